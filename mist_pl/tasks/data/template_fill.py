"""Top up thin rxn_naming classes with template reactions, marked synthetic.

Real data leave some of the ten classes thin (schneider50k has no Aromatic
Heterocycle Formation at all; the shipped sample has 60 per class). After the
per-class cap, :func:`fill_thin_classes` adds template reactions
(:mod:`.template_reactions`) to each class with fewer than ``target`` examples until it
has ``target``, and touches nothing else:

* classes at or above the target get nothing; real rows are never removed or
  replaced, and a template reaction equal to a real one is skipped;
* within a class the templates take turns (each template's reactions in a seeded
  hash order), so one prolific template (amides) does not crowd out the others;
* rows carry ``synthetic: True``, ``source: "template"`` and
  ``origin: "template:<name>|<molecule origin>"``, so a run can drop or weigh them.

A class runs short when its templates make fewer reactions than it needs;
:func:`shortfall` says by how much, and the build reports it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from mist_pl.chem.reactions import canonicalize_reaction
from mist_pl.tasks.data.reaction_classes import DEFAULT_OXIDATION_POLICY
from mist_pl.tasks.data.template_reactions import TemplateReaction, template_reactions
from mist_pl.tasks.data.templates import templates_for
from mist_pl.tasks.rxn_naming import REACTION_CLASSES
from mist_pl.tasks.splits import unit_hash

SOURCE = "template"


def synthetic_row(made: TemplateReaction, label: str) -> dict:
    return {
        "reaction": made.reaction,
        "mapped_reaction": None,
        "answer": label,
        "origin": f"template:{made.template}|{made.molecule_origin}",
        "source": SOURCE,
        "synthetic": True,
    }


def _interleaved(label: str, seed: int, policy: str, limit: int | None) -> list[TemplateReaction]:
    """The class's template reactions, templates taking turns, each in seeded order."""
    queues = [
        sorted(template_reactions(t, limit), key=lambda r: unit_hash(r.reaction, f"template{seed}"))
        for t in templates_for(label, policy)
    ]
    out = []
    for turn in range(max((len(q) for q in queues), default=0)):
        out.extend(q[turn] for q in queues if turn < len(q))
    return out


def fill_thin_classes(
    examples: Sequence[dict],
    target: int,
    seed: int,
    oxidation_policy: str = DEFAULT_OXIDATION_POLICY,
    molecule_limit: int | None = None,
) -> list[dict]:
    """The synthetic rows that bring each class of ``examples`` up to ``target``
    (``examples`` itself is not changed). ``molecule_limit`` reads only the first N
    shipped molecules (for tests)."""
    if target <= 0:
        return []
    existing = {canonicalize_reaction(e.get("reaction"), keep_agents=False) for e in examples}
    counts = Counter(e.get("answer") for e in examples)
    added: list[dict] = []
    for label in REACTION_CLASSES:
        need = target - counts[label]
        if need <= 0:
            continue
        for made in _interleaved(label, seed, oxidation_policy, molecule_limit):
            if need <= 0:
                break
            if made.reaction in existing:
                continue
            existing.add(made.reaction)
            added.append(synthetic_row(made, label))
            need -= 1
    return added


def shortfall(examples: Sequence[dict], target: int) -> dict[str, int]:
    """How far each class of ``examples`` (real and synthetic) stays below ``target``."""
    counts = Counter(e.get("answer") for e in examples)
    return {label: target - counts[label] for label in REACTION_CLASSES if counts[label] < target}


def synthetic_counts(rows: Sequence[dict]) -> dict[str, int]:
    """Synthetic rows per class (for the build summary)."""
    counts = Counter(r["answer"] for r in rows if r.get("synthetic"))
    return dict(sorted(counts.items()))
