"""A run stopped by the non-finite guard is a failed run: the CLI exits non-zero with a
one-line reason (scripts and SLURM saw exit code 0, i.e. success), after saving the last
good weights."""

from __future__ import annotations

import pytest
from ops_helpers import PoisonFrom, callback, cpt_config

from mist_pl.cli import main


def test_guard_stop_exits_non_zero_with_a_one_line_reason(tmp_path, capsys):
    config = cpt_config(tmp_path, every_n_steps=100)
    with pytest.raises(SystemExit) as stop:
        main(["fit", f"--config={config}", "--trainer.max_steps=8", "--model.max_bad_steps=2",
              callback(PoisonFrom, step=1)])
    code = stop.value.code
    assert code not in (None, 0)
    assert isinstance(code, str) and "\n" not in code  # Python prints it to stderr, exit status 1
    assert "2 consecutive non-finite losses" in code
    saved = tmp_path / "runs" / "cpt_tiny" / "run" / "checkpoints" / "nonfinite-stop.ckpt"
    assert saved.is_file() and str(saved) in code
    assert "TensorBoard logs:" not in capsys.readouterr().out  # no success summary
