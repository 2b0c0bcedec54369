"""A run stopped by SIGTERM checkpoints at the next step boundary and, resumed with
``--ckpt_path last``, logs exactly the losses of an uninterrupted run (model, optimizer,
schedule, data position and random state all restored)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ops_helpers import (
    REPO,
    LossRecorder,
    SigtermAt,
    SigtermInValidation,
    callback,
    cpt_config,
    read_losses,
    run_cli,
    write_mix,
)

# name: (config, extra args, max_steps, SIGTERM at the start of this step, compared metrics)
CASES = {
    "cpt": ("conf/tiny/cpt.yaml", ["--data.seq_len=64", "--data.batch_size=2"], 8, 3, ["train/loss"]),
    "grpo": ("conf/tiny/grpo_toy.yaml", [], 4, 1, ["train/loss", "reward/mean"]),
    "sft": ("conf/tiny/sft.yaml", [f"--data.mixture={REPO / 'conf/data/sft_tiny.yaml'}", "--data.seq_len=512"], 4, 1,
            ["train/loss"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(CASES))
def test_sigterm_checkpoint_then_resume_continues_like_an_uninterrupted_run(stage, tmp_path, monkeypatch):
    config, extra, steps, stop_at, keys = CASES[stage]
    assert (REPO / config).is_file(), f"{config} is missing: a renamed or deleted config must fail, not skip"
    monkeypatch.chdir(tmp_path)
    if stage == "cpt":
        extra = [*extra, f"--data.mixture={write_mix(tmp_path / 'mix.yaml')}"]
    common = ["fit", f"--config={REPO / config}", *extra, f"--trainer.max_steps={steps}",
              "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
              "--trainer.logger.init_args.save_dir=runs"]

    def record(name: str) -> str:
        return callback(LossRecorder, out=str(tmp_path / f"{name}.jsonl"), keys=keys)

    run_cli([*common, "--trainer.logger.init_args.version=full", record("full")])
    stamp = tmp_path / "sigterm.time"
    stopped = run_cli([*common, "--trainer.logger.init_args.version=cut", record("cut"),
                       callback(SigtermAt, step=stop_at, stamp=str(stamp))])
    assert stopped is None, "the SIGTERM run went on to the end"
    (ckpt,) = Path("runs").glob("*/cut/checkpoints/last.ckpt")
    saved_step = torch.load(ckpt, weights_only=True, mmap=True)["global_step"]
    assert stop_at < saved_step < steps  # the step running when the signal came, then stop
    assert ckpt.stat().st_mtime - float(stamp.read_text()) < 10.0  # "within seconds"

    resumed = run_cli([*common, "--trainer.logger.init_args.version=cut", record("resumed"), "--ckpt_path=last"])
    assert resumed.trainer.global_step == steps

    full, cut, after = (read_losses(tmp_path / f"{n}.jsonl") for n in ("full", "cut", "resumed"))
    assert sorted(full) == list(range(1, steps + 1))
    assert max(cut) == saved_step and min(after) > saved_step and max(after) == steps
    for step in full:
        got = cut.get(step, after.get(step))
        assert got == full[step], f"step {step}: resumed {got} != uninterrupted {full[step]}"


@pytest.mark.slow
def test_sigterm_during_validation_saves_the_last_finished_step(tmp_path):
    """Lightning ends the run inside validation (SIGTERMException); the callback then saves
    the step that finished before it, and the resumed run goes on from there."""
    config = cpt_config(tmp_path, every_n_steps=100)  # no periodic checkpoint before the stop
    common = ["fit", f"--config={config}", "--trainer.limit_val_batches=2", "--trainer.val_check_interval=2"]
    assert run_cli([*common, "--trainer.max_steps=6", callback(SigtermInValidation)]) is None
    ckpt = tmp_path / "runs" / "cpt_tiny" / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True, mmap=True)["global_step"] == 2
    resumed = run_cli([*common, "--trainer.max_steps=4", "--ckpt_path=last"])
    assert resumed.trainer.global_step == 4
    assert resumed.datamodule.consumed_samples == 4 * 2  # 2 restored steps + 2 new ones, 2 rows each
