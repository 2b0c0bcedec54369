"""Wrong versions of a real reaction, for the multiple-choice and true/false tasks.

Three corruptions, each a plausible-looking mistake:

* ``swapped_sides``: products written as reactants and vice versa;
* ``wrong_product``: the product of another reaction from the same pool;
* ``dropped_reactant``: one reactant left out (only with two or more reactants).

A corruption is kept only if it is a different reaction from the true one when both
are compared canonically (agents folded into the reactants), so a "wrong" option can
never be the right one spelled differently.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from mist_pl.chem.reactions import canonicalize_reaction
from mist_pl.tasks.data.reaction_pool import Reaction

KINDS = ("swapped_sides", "wrong_product", "dropped_reactant")
MAX_DRAWS = 8  # tries to find another reaction with a different product


def differs(true_reaction: str, candidate: str) -> bool:
    """Whether ``candidate`` is a valid reaction that is not ``true_reaction``."""
    truth = canonicalize_reaction(true_reaction, keep_agents=False)
    other = canonicalize_reaction(candidate, keep_agents=False)
    return truth is not None and other is not None and truth != other


def swapped_sides(reaction: Reaction) -> str:
    return f"{reaction.product}>>{'.'.join(reaction.reactants)}"


def wrong_product(reaction: Reaction, pool: Sequence[Reaction], rng: random.Random) -> str | None:
    for _ in range(min(MAX_DRAWS, len(pool))):
        other = pool[rng.randrange(len(pool))]
        if other.product != reaction.product:
            return f"{'.'.join(reaction.reactants)}>>{other.product}"
    return None


def dropped_reactant(reaction: Reaction, rng: random.Random) -> str | None:
    if len(reaction.reactants) < 2:
        return None
    keep = list(reaction.reactants)
    del keep[rng.randrange(len(keep))]
    return f"{'.'.join(keep)}>>{reaction.product}"


def corrupt(reaction: Reaction, pool: Sequence[Reaction], rng: random.Random) -> dict[str, str]:
    """Every corruption that applies and differs from the truth, by kind."""
    candidates = {
        "swapped_sides": swapped_sides(reaction),
        "wrong_product": wrong_product(reaction, pool, rng),
        "dropped_reactant": dropped_reactant(reaction, rng),
    }
    truth = reaction.transformation
    return {kind: text for kind, text in candidates.items() if text is not None and differs(truth, text)}
