"""Export a Lightning checkpoint (one file, or a sharded FSDP2 folder) to a Hugging Face
model folder with its tokenizer: ``python -m mist_pl.export --ckpt X --out DIR``.

The folder is self-describing: plain ``AutoTokenizer.from_pretrained(DIR)`` and
``AutoModelForCausalLM.from_pretrained(DIR)``, with no mist-pl import and no remote code,
give the token ids and the logits the model had in training. Every export checks the
tokenizer half of that (:func:`mist_pl.models.tokenizer.check_saved_tokenizer`) and fails
naming the text that came out different. It is also what the next stage's
``lm.name_or_path`` points at.

``DIR`` is written whole or not at all: the folder is built beside it and then put in its
place. It may be new, empty or a previous export (``mist_pl_export.json`` lists the files
that export wrote); any other folder is refused unless ``--overwrite``, since the export
replaces everything in it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from mist_pl.checkpoints.validate import CheckpointError, check_checkpoint, load_metadata, verify_bytes
from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.models.lora import is_peft_state
from mist_pl.models.tokenizer import check_saved_tokenizer
from mist_pl.models.weights import load_weights

log = logging.getLogger(__name__)

EXPORT_RECORD = "mist_pl_export.json"  # the files an export wrote: a rerun may replace them
MAX_NAMED = 5  # foreign files named in a refusal


class ExportFolderError(ValueError):
    """``--out`` cannot take the export without destroying what is there."""


def load_checkpoint(path: str | Path, model_only: bool = False) -> dict:
    """Read a Lightning checkpoint on CPU, verified and safely (a file's bytes against their
    CRC, a folder's structure; plain data only, see :mod:`mist_pl.checkpoints.validate`),
    whether it is a single file or the folder a sharded strategy writes (consolidated in
    memory). Export, ``init_from_ckpt`` and eval all load through here.

    ``model_only`` skips the optimizer state of a sharded folder (2x the weights for AdamW):
    starting the next stage from a 7B checkpoint then needs ~30 GB of host memory per
    process, not ~90 GB. A single file is memory-mapped, so unused tensors are never read.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / ".metadata").is_file():
            raise FileNotFoundError(f"checkpoint folder {path} has no .metadata: not a sharded checkpoint")
        return _read_sharded(path, keys={"state_dict"} if model_only else None)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    verify_bytes(path)
    return load_metadata(path)


def _read_sharded(folder: Path, keys: set[str] | None) -> dict:
    """Consolidate a torch.distributed.checkpoint folder in one process (as Lightning's
    ``_load_distributed_checkpoint`` does, plus a key filter), with its ``meta.pt``."""
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.format_utils import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    # A folder has no checksums: check its structure (every shard as long as the index says)
    # and, since the loader below unpickles without limits, that it needs nothing but data.
    check_checkpoint(folder)
    checkpoint: dict = {}
    _load_state_dict(checkpoint, storage_reader=FileSystemReader(folder),
                     planner=_EmptyStateDictLoadPlanner(keys=keys), no_dist=True)
    meta = folder / "meta.pt"  # hyper-parameters, loop state: what is not sharded
    if meta.is_file():
        checkpoint.update(load_metadata(folder))
    return checkpoint


def model_state_dict(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The HF model's own weights: the module's ``model.`` prefix removed."""
    state = checkpoint.get("state_dict") or checkpoint.get("model")
    if state is None:
        raise KeyError("checkpoint holds neither 'state_dict' nor 'model'")
    prefix = "model."
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def lm_config_from(checkpoint: dict) -> ModelConfig:
    hparams = checkpoint.get("hyper_parameters") or {}
    if "lm" not in hparams:
        raise KeyError("checkpoint has no hyper_parameters['lm']: was it written by a mist-pl module?")
    return ModelConfig(**hparams["lm"])


def plain_weights(checkpoint: dict, source: str) -> dict[str, torch.Tensor]:
    """The checkpoint's model weights under plain Hugging Face names: LoRA adapters of a
    peft checkpoint are merged into the base weights (the next stage starts from them)."""
    state = model_state_dict(checkpoint)
    if not is_peft_state(state):
        return state
    cfg = lm_config_from(checkpoint)
    if cfg.lora is None:
        raise ValueError(f"{source}: holds LoRA adapters but its hyper_parameters['lm'] has no lora settings")
    model = build_model(cfg, build_tokenizer(cfg))
    load_weights(model, state, source, target=f"lm.name_or_path={cfg.name_or_path!r} with lora")
    return model.merge_and_unload().state_dict()


def export(ckpt: str | Path, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``ckpt``'s model and tokenizer as a Hugging Face folder ``out``: a new or empty
    folder, a previous export (replaced whole) or, with ``overwrite``, any folder (replaced
    whole, whatever it held)."""
    out = Path(out).resolve()  # a linked folder is replaced where it lies, not the link
    check_out(out, Path(ckpt), overwrite)
    checkpoint = load_checkpoint(ckpt, model_only=True)
    cfg = lm_config_from(checkpoint)
    weights = plain_weights(checkpoint, str(ckpt))
    # The exported folder is a plain model: adapters merged, no activation checkpointing.
    plain = replace(cfg, lora=None, gradient_checkpointing=False)
    tokenizer = build_tokenizer(plain)
    model = build_model(plain, tokenizer, weights=weights, weights_source=str(ckpt))
    out.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        model.save_pretrained(built)
        tokenizer.save_pretrained(built)
        files = sorted(path.name for path in built.iterdir())
        (built / EXPORT_RECORD).write_text(json.dumps({"checkpoint": str(Path(ckpt).resolve()), "files": files}))
        publish(built, out)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    check_saved_tokenizer(out, tokenizer)
    log.info("exported %s to %s", ckpt, out)
    return out


def check_out(out: Path, ckpt: Path, overwrite: bool) -> None:
    """Raise :class:`ExportFolderError` for an ``out`` the export would damage: a file; a
    non-empty folder that is not a previous export, unless ``overwrite`` (written into, its
    ``config.json`` was overwritten and its other files were left beside the model); the
    folder that holds the checkpoint, even with ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise ExportFolderError(f"--out {out} is a file; give a folder")
    if not out.is_dir():
        return
    if out in ckpt.resolve().parents:
        raise ExportFolderError(f"--out {out} holds the checkpoint {ckpt}: replacing the folder would delete it; "
                                "choose another --out")
    foreign = sorted({path.name for path in out.iterdir()} - exported_files(out))
    if foreign and not overwrite:
        raise ExportFolderError(
            f"{out}: not empty and not a previous export (it holds {', '.join(foreign[:MAX_NAMED])}"
            f"{', ...' if len(foreign) > MAX_NAMED else ''}); nothing was written. Pass --overwrite to replace "
            "the folder and everything in it, or choose another --out"
        )


def exported_files(folder: Path) -> set[str]:
    """The names a previous export wrote into ``folder`` (from its record); none if it has no record."""
    record = folder / EXPORT_RECORD
    try:
        files = json.loads(record.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):  # no record, or not one an export wrote
        return set()
    return {EXPORT_RECORD, *files}


def publish(built: Path, out: Path) -> None:
    """Put the finished folder ``built`` (beside ``out``) in the place of ``out``, so that
    no file of what was there before stays beside the new model."""
    if not out.exists():
        os.replace(built, out)
        return
    old = built.with_name(f"{built.name}-old")
    os.replace(out, old)
    try:
        os.replace(built, out)
    except OSError:
        os.replace(old, out)  # leave what was there as it was
        raise
    shutil.rmtree(old)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", required=True, help="Lightning .ckpt file or sharded checkpoint folder")
    parser.add_argument("--out", required=True,
                        help="output Hugging Face model folder: new, empty, or a previous export (replaced)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if it holds files that are not a previous export (they are deleted)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        print(export(args.ckpt, args.out, args.overwrite))
    except (CheckpointError, ExportFolderError) as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
