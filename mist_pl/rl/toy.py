"""A toy task a random tiny model can learn in a few dozen CPU steps: "write carbon".

It checks that the whole GRPO loop (sampling, rewards, advantages, loss, optimizer)
moves the policy the right way, in a test or in ``conf/tiny/grpo_toy.yaml``. The reward
is dense on purpose: the share of the completion's characters that are ``C``. A random
policy scores a few percent and every sampled group differs, so there is signal from
the first step; chemistry tasks are too sparse for an untrained model.
"""

from __future__ import annotations

import random
from typing import Any

TARGET = "C"
_SUBJECTS = ("a carbon chain", "an alkane", "a long hydrocarbon", "carbon atoms", "a SMILES of carbons")


def toy_examples(n: int = 64, seed: int = 0) -> list[dict]:
    """``n`` prompts asking for carbon, with a ``task`` column for per-task logging."""
    rng = random.Random(seed)
    return [
        {"prompt": f"Write {rng.choice(_SUBJECTS)} with {rng.randint(2, 12)} carbons.", "task": "toy_carbon"}
        for _ in range(n)
    ]


def carbon_reward(completions: list[Any], **columns: Any) -> list[float]:
    """Share of ``C`` among the completion's non-space characters (0 for an empty one)."""
    rewards = []
    for completion in completions:
        text = "".join(str(completion).split())
        rewards.append(text.count(TARGET) / len(text) if text else 0.0)
    return rewards
