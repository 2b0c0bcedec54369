"""The MiST reference's reaction-naming evaluation, as an evaluation protocol
(``--protocol mist``; :class:`mist_pl.eval.evaluate.EvalConfig` ``protocol="mist"``).

What the reference does, re-stated here so that numbers can be set beside the paper's
(it evaluated 3,000 test reactions):

* **one sample per reaction** at temperature 0.8, top-p 0.8, top-k 20, up to 4,096 new
  tokens (mist-pl caps that at the model's context: see
  :func:`mist_pl.eval.evaluate.evaluate_task`);
* **one retry**: a completion without an answer block is sampled once more, and the
  second completion is the one scored, whatever it holds; no further tries;
* **substring scoring**: right when the gold class name occurs in the answer.

The reference's substring rule leaves details open; mist-pl reads it as follows, and
:func:`substring_correct` is the one statement of it:

* the text searched is the content of the completion's last complete
  ``<answer>...</answer>`` block (the project's parser,
  :func:`mist_pl.tasks.answer.parse_completion`). A completion with no such block is
  wrong: the reasoning is not searched, since it routinely lists several classes and
  would then count as right for each of them;
* the match ignores case (both sides ``str.casefold``); nothing else is normalised
  (no dash or whitespace folding). Ignoring case means the gold class "Protection" is
  found in the answer "Deprotection" (``"protection"`` is a substring of
  ``"deprotection"``), so such an answer counts as right; with exact case it would not.
  The reverse (gold "Deprotection", answer "Protection") is wrong either way. Among the
  ten classes this is the only pair where one name lies inside another;
* an answer naming several classes ("Acylation or Reduction") is right for each of them,
  and a sentence around the class ("This is an Acylation reaction") is right.

The project's own **strict** scoring (the task's ``top1``: the answer block names the
gold class exactly, after case, whitespace and dash normalisation) is reported beside it
as ``top1_strict``; ``top1_substring`` is the reference's. The retry is decided by
:func:`has_answer`: the same "complete answer block" notion, so a completion cut at the
length cap inside its answer block is retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mist_pl.tasks.answer import parse_completion

NAME = "mist"


@dataclass(frozen=True)
class MistSettings:
    """The reference's sampling settings (``max_new_tokens`` is a request, capped by the
    model's context; ``retries`` is the number of extra samples for a completion without
    an answer block)."""

    temperature: float = 0.8
    top_p: float = 0.8
    top_k: int = 20
    max_new_tokens: int = 4096
    retries: int = 1
    reference_test_size: int = 3000

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


MIST = MistSettings()

SUBSTRING_RULE = ("gold class, case-folded, is a substring of the case-folded content of the last complete "
                  "<answer> block; no answer block is wrong")
RETRY_RULE = "sample once more when the completion has no complete <answer> block; the retry is scored"
# The retry samples with seed + RETRY_SEED_OFFSET: with the first pass's seed, a retried
# prompt alone in its batch could draw the same random numbers as before.
RETRY_SEED_OFFSET = 1


def answer_text(completion: Any) -> str | None:
    """The content of the completion's last complete answer block (None: there is none)."""
    return parse_completion(completion).answer


def has_answer(completion: Any) -> bool:
    """Whether the completion has a complete ``<answer>...</answer>`` block (empty or not)."""
    return answer_text(completion) is not None


def substring_correct(completion: Any, example: Mapping[str, Any]) -> bool:
    """The reference's scoring as mist-pl reads it (module docstring): the gold answer,
    ignoring case, occurs in the answer block."""
    gold = example.get("answer")
    answer = answer_text(completion)
    if not isinstance(gold, str) or not gold.strip() or answer is None:
        return False
    return gold.strip().casefold() in answer.casefold()
