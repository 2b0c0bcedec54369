"""Resuming from a checkpoint taken exactly at an epoch boundary continues like the
uninterrupted run: same next batches (stream rows, prompts), same epoch number, same losses (GRPO skipped a
whole epoch of prompts: the resumed run said epoch 2 where the uninterrupted one was in
epoch 1, and its rewards differed). Both places Lightning saves at that boundary are
checked: at the end of the epoch's last batch (``every_n_train_steps``) and at the end
of the epoch (``save_on_train_epoch_end``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ops_helpers import REPO, LossRecorder, callback, run_cli, write_mix

# Data small enough that an epoch is a few steps: CPT and SFT mixtures with a short
# tokens_per_epoch, GRPO with 8 prompts (2 rounds of 4).
STAGES = {
    "cpt": ("conf/tiny/cpt.yaml", ["--data.seq_len=64", "--data.batch_size=2"], ["train/loss"]),
    "sft": ("conf/tiny/sft.yaml", ["--data.seq_len=512", "--data.batch_size=2"], ["train/loss"]),
    "grpo": ("conf/tiny/grpo_toy.yaml", ["--data.init_args.limit=8"], ["train/loss", "reward/mean"]),
}


def short_epoch_mixture(tmp_path: Path, stage: str) -> Path:
    if stage == "cpt":
        mix = yaml.safe_load(write_mix(tmp_path / "base_mix.yaml").read_text())
        mix["tokens_per_epoch"] = 250
    else:
        mix = yaml.safe_load((REPO / "conf/data/sft_tiny.yaml").read_text())
        mix["tokens_per_epoch"] = 1500
    path = tmp_path / f"{stage}_mix.yaml"
    path.write_text(yaml.safe_dump(mix))
    return path


def steps_per_epoch(stage: str, extra: list[str]) -> int:
    if stage == "grpo":
        return 2
    from mist_pl.data.datamodule import MixtureDataModule

    kwargs = {arg.split("=")[0].removeprefix("--data."): arg.split("=")[1] for arg in extra}
    dm = MixtureDataModule(kwargs["mixture"], tokenizer="mist-chem", seq_len=int(kwargs["seq_len"]),
                           batch_size=int(kwargs["batch_size"]))
    dm.setup("fit")
    return max(1, dm._mixture.schedule.epoch_rows // dm.batch_size)


def read_rows(path: Path) -> dict[int, dict]:
    return {row["step"]: row for row in map(json.loads, path.read_text().splitlines())}


def checkpoint_every(dirpath: Path, **init_args) -> str:
    args = {"dirpath": str(dirpath), "save_top_k": -1, "filename": "{step}", **init_args}
    return "--trainer.callbacks+=" + json.dumps({"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                                 "init_args": args})


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_resume_at_an_epoch_boundary_continues_like_the_uninterrupted_run(stage, tmp_path, monkeypatch):
    config, extra, keys = STAGES[stage]
    monkeypatch.chdir(tmp_path)
    if stage != "grpo":
        extra = [*extra, f"--data.mixture={short_epoch_mixture(tmp_path, stage)}"]
    epoch = steps_per_epoch(stage, extra)
    assert 1 <= epoch <= 6, epoch  # keeps the test short
    steps = epoch + 2
    common = ["fit", f"--config={REPO / config}", *extra, f"--trainer.max_steps={steps}",
              "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
              "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0",
              "--trainer.logger.init_args.save_dir=runs"]

    def record(name: str) -> str:
        return callback(LossRecorder, out=str(tmp_path / f"{name}.jsonl"), keys=keys)

    run_cli([*common, "--trainer.logger.init_args.version=full", record("full"),
             checkpoint_every(tmp_path / "at_batch_end", every_n_train_steps=1),
             checkpoint_every(tmp_path / "at_epoch_end", every_n_epochs=1, save_on_train_epoch_end=True)])
    full = read_rows(tmp_path / "full.jsonl")
    assert sorted(full) == list(range(1, steps + 1))
    assert full[epoch]["epoch"] == 0 and full[epoch + 1]["epoch"] == 1

    differences = []
    for where in ("at_batch_end", "at_epoch_end"):
        ckpt = tmp_path / where / f"step={epoch}.ckpt"
        assert ckpt.is_file(), sorted(p.name for p in (tmp_path / where).iterdir())
        cli = run_cli([*common, f"--trainer.logger.init_args.version={where}", record(where), f"--ckpt_path={ckpt}"])
        resumed = read_rows(tmp_path / f"{where}.jsonl")
        if cli.trainer.global_step != steps or sorted(resumed) != [epoch + 1, epoch + 2]:
            differences.append(f"{where}: ran steps {sorted(resumed)}, ended at {cli.trainer.global_step}")
            continue
        for step in (epoch + 1, epoch + 2):
            got, want = resumed[step], full[step]
            if (got["epoch"], got["batch"], got["metrics"]) != (want["epoch"], want["batch"], want["metrics"]):
                differences.append(f"{where}, step {step}: resumed epoch {got['epoch']} rows {got['batch']} "
                                   f"{got['metrics']}, uninterrupted epoch {want['epoch']} rows {want['batch']} "
                                   f"{want['metrics']}")
    assert not differences, "\n".join(differences)
