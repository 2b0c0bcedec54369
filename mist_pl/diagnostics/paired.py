"""Score true/corrupted pairs that share a prefix, the shape of both SCS and CCS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.diagnostics.effect_sizes import paired_summary
from mist_pl.diagnostics.scoring import OK, ScoringItem, SpanScore, score_items


@dataclass(frozen=True)
class Pair:
    """``prefix + true_target`` is right, ``prefix + wrong_target`` is not."""

    prefix: str
    true_target: str
    wrong_target: str


@dataclass(frozen=True)
class PairScore:
    true: SpanScore
    wrong: SpanScore

    @property
    def status(self) -> str:
        """``ok`` when both sides were scored, else the first side's reason."""
        return next((s.status for s in (self.true, self.wrong) if s.status != OK), OK)

    def row(self) -> dict:
        return {
            "lp_true": self.true.mean_logprob,
            "lp_corrupt": self.wrong.mean_logprob,
            "tokens_true": self.true.n_target_tokens,
            "tokens_corrupt": self.wrong.n_target_tokens,
            "status": self.status,
        }


def score_pairs(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    batch_size: int = 16,
    max_length: int | None = None,
) -> list[PairScore]:
    items = [ScoringItem(p.prefix, t) for p in pairs for t in (p.true_target, p.wrong_target)]
    scores = score_items(model, tokenizer, items, batch_size=batch_size, max_length=max_length)
    return [PairScore(scores[2 * i], scores[2 * i + 1]) for i in range(len(pairs))]


def summarize(scored: Sequence[PairScore]) -> dict:
    """Effect sizes over the pairs whose both sides were scored."""
    good = [s for s in scored if s.status == OK]
    return paired_summary([s.true.mean_logprob for s in good], [s.wrong.mean_logprob for s in good])
