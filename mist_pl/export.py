"""Export a Lightning checkpoint (one file, or a sharded FSDP2 folder) to a Hugging Face
model folder with its tokenizer: ``python -m mist_pl.export --ckpt X --out DIR``.

The folder loads anywhere with ``AutoModelForCausalLM.from_pretrained(DIR)`` and is what
the next stage's ``lm.name_or_path`` points at.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer

log = logging.getLogger(__name__)


def load_checkpoint(path: str | Path) -> dict:
    """Read a Lightning checkpoint on CPU, safely (``weights_only=True``), whether it is a
    single file or the folder a sharded strategy writes (consolidated in memory)."""
    path = Path(path)
    if path.is_dir():
        from lightning.fabric.utilities.load import _load_distributed_checkpoint

        if not (path / ".metadata").is_file():
            raise FileNotFoundError(f"checkpoint folder {path} has no .metadata: not a sharded checkpoint")
        return _load_distributed_checkpoint(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


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


def export(ckpt: str | Path, out: str | Path) -> Path:
    checkpoint = load_checkpoint(ckpt)
    cfg = lm_config_from(checkpoint)
    tokenizer = build_tokenizer(cfg)
    model = build_model(cfg, tokenizer)
    state = model_state_dict(checkpoint)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied output heads are saved once; anything else missing means a different architecture.
    missing = [k for k in missing if not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {ckpt} does not match {cfg.name_or_path}: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
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
