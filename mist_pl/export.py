"""Export a Lightning checkpoint (one file, or a sharded FSDP2 folder) to a Hugging Face
model folder with its tokenizer: ``python -m mist_pl.export --ckpt X --out DIR``.

The folder is self-describing: plain ``AutoTokenizer.from_pretrained(DIR)`` and
``AutoModelForCausalLM.from_pretrained(DIR)``, with no mist-pl import and no remote code,
give the token ids and the logits the model had in training. Every export checks the
tokenizer half of that (:func:`mist_pl.models.tokenizer.check_saved_tokenizer`) and fails
naming the text that came out different. It is also what the next stage's
``lm.name_or_path`` points at.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import torch

from mist_pl.checkpoints.validate import load_metadata, sharded_index
from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.models.lora import is_peft_state
from mist_pl.models.tokenizer import check_saved_tokenizer
from mist_pl.models.weights import load_weights

log = logging.getLogger(__name__)


def load_checkpoint(path: str | Path, model_only: bool = False) -> dict:
    """Read a Lightning checkpoint on CPU, safely (plain data only, see
    :mod:`mist_pl.checkpoints.validate`), whether it is a single file or the folder a
    sharded strategy writes (consolidated in memory).

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
    return load_metadata(path)


def _read_sharded(folder: Path, keys: set[str] | None) -> dict:
    """Consolidate a torch.distributed.checkpoint folder in one process (as Lightning's
    ``_load_distributed_checkpoint`` does, plus a key filter), with its ``meta.pt``."""
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.format_utils import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    sharded_index(folder)  # the loader below unpickles without limits: first check it needs nothing but data
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


def export(ckpt: str | Path, out: str | Path) -> Path:
    checkpoint = load_checkpoint(ckpt, model_only=True)
    cfg = lm_config_from(checkpoint)
    weights = plain_weights(checkpoint, str(ckpt))
    # The exported folder is a plain model: adapters merged, no activation checkpointing.
    plain = replace(cfg, lora=None, gradient_checkpointing=False)
    tokenizer = build_tokenizer(plain)
    model = build_model(plain, tokenizer, weights=weights, weights_source=str(ckpt))
    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    check_saved_tokenizer(out, tokenizer)
    log.info("exported %s to %s", ckpt, out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", required=True, help="Lightning .ckpt file or sharded checkpoint folder")
    parser.add_argument("--out", required=True, help="output Hugging Face model folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(export(args.ckpt, args.out))


if __name__ == "__main__":
    main()
