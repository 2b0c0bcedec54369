"""GRPO's non-finite guard: a skipped optimizer step leaves the learning-rate schedule
where it was (it advanced anyway, so a run with skips ended its decay early)."""

from __future__ import annotations

import math

from rl_helpers import run_toy

from mist_pl.modules.grpo import GRPOModule


def test_nonfinite_step_does_not_advance_the_schedule(tmp_path, monkeypatch):
    real = GRPOModule.micro_batch_loss

    def nan_at_first_step(self, micro, step_tokens, step_sequences):
        loss, stats, entropy = real(self, micro, step_tokens, step_sequences)
        return (loss * math.nan if self.global_step == 0 else loss), stats, entropy

    monkeypatch.setattr(GRPOModule, "micro_batch_loss", nan_at_first_step)
    module, rounds = run_toy(tmp_path, steps=3)
    assert module.global_step == 3
    assert rounds[0]["train/skipped_updates"] == 1.0
    assert module.lr_schedulers().last_epoch == 2  # 3 optimizer steps, the first skipped
