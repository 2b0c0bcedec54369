"""The tiny end-to-end MiST pipeline behind ``make demo``.

Each stage is an ordinary LightningCLI run of a config under ``conf/tiny/`` (the same
command a user types), and passes its exported model folder to the next stage through
``--model.lm.name_or_path``. Everything lands under ``runs/demo/``.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Stage:
    name: str
    config: str
    overrides: tuple[str, ...] = ()


STAGES = [
    Stage("cpt", "conf/tiny/cpt.yaml"),
]


def run_stage(stage: Stage, out_dir: Path, init_from: Path | None) -> Path:
    """Fit one stage; export its last checkpoint to a Hugging Face folder and return it."""
    from mist_pl.cli import main
    from mist_pl.export import export

    args = [
        "fit",
        "--config", str(REPO / stage.config),
        "--trainer.logger.init_args.save_dir", str(out_dir),
        "--trainer.logger.init_args.name", stage.name,
        *stage.overrides,
    ]
    if init_from is not None:
        args += ["--model.lm.name_or_path", str(init_from)]
    cli = main(args)
    ckpt = cli.trainer.checkpoint_callback.last_model_path or cli.trainer.checkpoint_callback.best_model_path
    return export(ckpt, out_dir / stage.name / "hf")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the tiny MiST pipeline end to end.")
    parser.add_argument("--out", default="runs/demo", help="folder for logs, checkpoints and models")
    args = parser.parse_args(argv)
    out_dir = Path(args.out).resolve()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model_dir: Path | None = None
    timings = []
    for i, stage in enumerate(STAGES, 1):
        print(f"\n=== stage {i}/{len(STAGES)}: {stage.name} ({stage.config}) ===", flush=True)
        start = time.perf_counter()
        model_dir = run_stage(stage, out_dir, model_dir)
        timings.append((stage.name, time.perf_counter() - start, model_dir))
    print("\nstage        seconds  model folder")
    for name, seconds, folder in timings:
        print(f"{name:<12} {seconds:7.0f}  {folder}")
    print(f"\nTensorBoard: tensorboard --logdir {out_dir}")


if __name__ == "__main__":
    main()
