"""Examples for the four reaction tasks from one pool of clean reactions.

The same real reactions serve every reaction task: rxn_naming (the labelled ones),
rxn_prediction (reactants and agents -> main product), rxn_mcq and rxn_true_false (the
true reaction against its corruptions).

Wrong options are drawn only from reactions of the same split (the split is a function
of the true product, :func:`mist_pl.tasks.splits.assign`), so a test product never
appears in a training question, even as a distractor. Every example carries
``split_key`` = the true product's key, which keeps a false statement in its true
reaction's split.

Corruptions (:func:`corrupt`), each a plausible-looking mistake:

* ``swapped_sides``: products written as reactants and vice versa;
* ``wrong_product``: the product of another reaction from the same pool;
* ``dropped_reactant``: one reactant left out (only with two or more reactants).

A corruption is kept only if it is a different reaction from the true one when both
are compared canonically (agents folded into the reactants), so a "wrong" option can
never be the right one spelled differently.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from mist_pl.chem.reactions import canonicalize_reaction
from mist_pl.tasks.examples import Tally
from mist_pl.tasks.rxn_mcq import make_example
from mist_pl.tasks.rxn_naming import REACTION_CLASSES
from mist_pl.tasks.sources.reaction_pool import Reaction
from mist_pl.tasks.splits import assign, molecule_key, unit_hash

# -- wrong versions of a reaction ------------------------------------------------------

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


# -- examples --------------------------------------------------------------------------

def unique_reactions(reactions: Iterable[Reaction], tally: Tally) -> list[Reaction]:
    """First occurrence of each transformation (``reactants>>product``) wins; a
    labelled copy replaces an unlabelled one seen earlier."""
    kept: dict[str, Reaction] = {}
    for reaction in reactions:
        key = reaction.transformation
        previous = kept.get(key)
        if previous is None:
            kept[key] = reaction
            continue
        tally.drop("duplicate reaction", reaction.origin)
        if previous.label is None and reaction.label is not None:
            kept[key] = reaction
    return list(kept.values())


def _base(reaction: Reaction) -> dict:
    return {"origin": reaction.origin, "source": reaction.source}


def naming_examples(reactions: Sequence[Reaction], tally: Tally, cap_per_class: int | None, seed: int) -> list[dict]:
    """Labelled reactions, at most ``cap_per_class`` per class (a stable, seeded choice)."""
    by_class: dict[str, list[Reaction]] = defaultdict(list)
    for reaction in reactions:
        if reaction.label is None:
            continue  # unlabelled sources (ORD, yields) serve the other tasks
        if reaction.label not in REACTION_CLASSES:
            tally.drop(f"class outside the ten ({reaction.label})", reaction.origin)
            continue
        by_class[reaction.label].append(reaction)
    examples = []
    for label in REACTION_CLASSES:
        members = sorted(by_class.get(label, []), key=lambda r: unit_hash(r.transformation, f"cap{seed}"))
        if cap_per_class is not None and len(members) > cap_per_class:
            tally.drop(f"over the per-class cap ({label})", members[cap_per_class].origin, len(members) - cap_per_class)
            members = members[:cap_per_class]
        for r in members:
            examples.append({"reaction": r.with_agents, "mapped_reaction": r.mapped, "answer": label, **_base(r)})
    return examples


def prediction_examples(reactions: Sequence[Reaction]) -> list[dict]:
    return [
        {"reactants": ".".join(sorted(r.reactants + r.agents)), "answer": r.product, "mapped_reaction": r.mapped, **_base(r)}
        for r in reactions
    ]


def _by_split(reactions: Sequence[Reaction], seed: int, fractions, tally: Tally) -> dict[str, list[tuple[str, Reaction]]]:
    groups: dict[str, list[tuple[str, Reaction]]] = defaultdict(list)
    for reaction in reactions:
        key = molecule_key(reaction.product)
        if key is None:
            tally.drop("no canonical form (invalid structure)", reaction.origin)
            continue
        groups[assign(key, seed, fractions)].append((key, reaction))
    return groups


def mcq_examples(reactions: Sequence[Reaction], tally: Tally, seed: int, fractions) -> list[dict]:
    """One question per reaction: the true reaction and every corruption that applies."""
    examples = []
    for split, members in sorted(_by_split(reactions, seed, fractions, tally).items()):
        pool = [r for _, r in members]
        rng = random.Random(f"mcq|{seed}|{split}")
        for key, reaction in members:
            fakes = corrupt(reaction, pool, rng)
            example = make_example(reaction.transformation, list(fakes.values()), reaction.origin)
            if example is None:
                tally.drop("no corruption differs from the true reaction", reaction.origin)
                continue
            kinds = {text: kind for kind, text in fakes.items()}
            example["option_kinds"] = [kinds.get(option, "true") for option in example["options"]]
            examples.append({**example, "split_key": key, "source": reaction.source})
    return examples


def true_false_examples(reactions: Sequence[Reaction], tally: Tally, seed: int, fractions) -> list[dict]:
    """Per reaction, the true statement and one corruption (kinds taken in turn), so
    the labels are balanced and every kind is used."""
    examples = []
    turn = Counter()
    for split, members in sorted(_by_split(reactions, seed, fractions, tally).items()):
        pool = [r for _, r in members]
        rng = random.Random(f"tf|{seed}|{split}")
        for key, reaction in members:
            fakes = corrupt(reaction, pool, rng)
            examples.append({"reaction": reaction.transformation, "answer": "true", "split_key": key, **_base(reaction)})
            if not fakes:
                tally.drop("no corruption differs from the true reaction", reaction.origin)
                continue
            available = [kind for kind in KINDS if kind in fakes]
            kind = min(available, key=lambda k: (turn[k], KINDS.index(k)))
            turn[kind] += 1
            examples.append({"reaction": fakes[kind], "answer": "false", "corruption": kind, "split_key": key, **_base(reaction)})
    return examples
