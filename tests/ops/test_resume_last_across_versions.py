"""``--ckpt_path last`` with the logger's default (automatic) version: the new run gets a
new ``version_N+1`` folder, and ``last`` looked only there, warned and trained from
scratch with exit code 0 although ``version_N`` held complete checkpoints. It now resumes
from the newest complete checkpoint of the run (any version), naming it; a configured
version (SLURM's ``job_<id>``) still means that version's checkpoints only."""

from __future__ import annotations

import logging

import yaml
from ops_helpers import cpt_config, run_cli


def auto_version_config(tmp_path):
    path = cpt_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    del config["trainer"]["logger"]["init_args"]["version"]  # Lightning picks version_0, version_1, ...
    path.write_text(yaml.safe_dump(config))
    return path


def steps_saved(folder) -> set[int]:
    return {int(p.stem.split("step=")[1]) for p in folder.glob("*step=*.ckpt")}


def test_last_finds_the_previous_versions_checkpoint(tmp_path, caplog):
    config = auto_version_config(tmp_path)
    run_cli(["fit", f"--config={config}", "--trainer.max_steps=4"])
    run = tmp_path / "runs" / "cpt_tiny"
    assert steps_saved(run / "version_0" / "checkpoints") == {2, 4}
    with caplog.at_level(logging.INFO, logger="mist_pl.checkpoints"):
        cli = run_cli(["fit", f"--config={config}", "--trainer.max_steps=6", "--ckpt_path=last"])
    assert cli.trainer.global_step == 6
    assert cli.datamodule.consumed_samples == 6 * 2
    assert steps_saved(run / "version_1" / "checkpoints") == {6}  # resumed at 4: no step 2 again
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"resuming from {run / 'version_0' / 'checkpoints' / 'last.ckpt'}" in said


def test_a_configured_version_only_resumes_its_own_checkpoints(tmp_path, caplog):
    config = auto_version_config(tmp_path)
    run_cli(["fit", f"--config={config}", "--trainer.max_steps=2"])
    with caplog.at_level(logging.WARNING, logger="mist_pl.checkpoints"):
        cli = run_cli(["fit", f"--config={config}", "--trainer.max_steps=2", "--ckpt_path=last",
                       "--trainer.logger.init_args.version=job_2"])
    assert steps_saved(tmp_path / "runs" / "cpt_tiny" / "job_2" / "checkpoints") == {2}  # trained from step 0
    assert cli.trainer.global_step == 2
    assert any("starting from scratch" in r.getMessage() for r in caplog.records)


def test_last_says_which_version_it_picked_and_warns_about_another_seed(tmp_path, caplog):
    """``last`` searches every version of the run, so a start with another seed continued
    the other seed's run, and only the checkpoint path hinted at it."""
    config = auto_version_config(tmp_path)
    run_cli(["fit", f"--config={config}", "--trainer.max_steps=2", "--seed_everything=1"])
    with caplog.at_level(logging.INFO, logger="mist_pl.checkpoints"):
        run_cli(["fit", f"--config={config}", "--trainer.max_steps=4", "--ckpt_path=last", "--seed_everything=2"])
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    run = tmp_path / "runs" / "cpt_tiny"
    assert any(f"--ckpt_path last searched every version of {run} and picked version_0, trained with "
               "seed_everything=1; this run's seed is 2" in message for message in warned), warned

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mist_pl.checkpoints"):
        run_cli(["fit", f"--config={config}", "--trainer.max_steps=6", "--ckpt_path=last", "--seed_everything=2"])
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.INFO, f"--ckpt_path last searched every version of {run} and picked version_1, trained with "
            "seed_everything=2") in said
