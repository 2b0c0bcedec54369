"""The diagnostics callback inside a real GRPO fit (manual optimization: steps are counted
by the module's own optimizer.step calls, and sampling switches the model to eval)."""

import json

from rl_helpers import run_toy

from mist_pl.callbacks.diagnostics import DiagnosticsCallback


def test_scs_runs_every_grpo_step_and_training_continues(tmp_path):
    out = tmp_path / "diag"
    callback = DiagnosticsCallback("scs", every_n_steps=1, at_start=True, limit=6, out_dir=str(out))
    module, rounds = run_toy(tmp_path, steps=2, callbacks=[callback])
    assert len(rounds) == 2 and module.trainer.global_step == 2
    assert sorted(p.name for p in out.iterdir()) == ["step-000000", "step-000001", "step-000002"]
    for step in ("step-000000", "step-000002"):
        summary = json.loads((out / step / "scs_summary.json").read_text())
        assert summary["counts"]["read"] == 6
    assert module.model.training  # the callback restored train mode after each run
