"""Map the data sets' reaction classes onto the ten MiST reaction-naming classes.

Schneider et al. (J. Chem. Inf. Model. 2016, "What's what") label reactions with the
RXNO-based hierarchy ``superclass.class.type`` (``6.1.5``: deprotection, N-deprotection,
N-Bn deprotection). Only the superclass decides the MiST class:

====  ====================================  ======================================
id    superclass (Schneider / RXNO)         MiST class
====  ====================================  ======================================
1     heteroatom alkylation and arylation   Heteroatom Alkylation and Arylation
2     acylation and related processes       Acylation
3     C-C bond formation                    C-C Coupling
4     heterocycle formation                 Aromatic Heterocycle Formation
5     protections                           Protection
6     deprotections                         Deprotection
7     reductions                            Reduction
8     oxidations                            (policy, see below)
9     functional group interconversion      Functional Group Interconversion
10    functional group addition             Functional Group Addition
11    resolutions                           Miscellaneous
12    miscellaneous                         Miscellaneous
====  ====================================  ======================================

The drfp copy of schneider50k has superclasses 1, 2, 3, 5-10 (no 4, 11, 12); the
table covers all twelve so other Schneider-style files map too. Verified on the file:
e.g. 7.1.1 reduces a nitro group to an amine, 8.1.5 turns an alcohol into a ketone.

Oxidation has no MiST class. :data:`OXIDATION_POLICIES`: ``"miscellaneous"`` (default,
what a ten-class model must answer for it), ``"oxidation"`` (keep its own label
"Oxidation"; rxn_naming's reward cannot score it, so the build drops those rows, but
they stay countable), or ``"drop"``. rxn-insight's own labels (the ten classes plus
"Oxidation") go through the same policy.
"""

from __future__ import annotations

from mist_pl.tasks.rxn_naming import REACTION_CLASSES, answer_class

OXIDATION = "Oxidation"
OXIDATION_POLICIES = ("miscellaneous", "oxidation", "drop")
DEFAULT_OXIDATION_POLICY = "miscellaneous"
OXIDATION_SUPERCLASS = 8

SCHNEIDER_SUPERCLASSES: dict[int, str | None] = {
    1: "Heteroatom Alkylation and Arylation",
    2: "Acylation",
    3: "C-C Coupling",
    4: "Aromatic Heterocycle Formation",
    5: "Protection",
    6: "Deprotection",
    7: "Reduction",
    8: None,  # oxidation: decided by the policy
    9: "Functional Group Interconversion",
    10: "Functional Group Addition",
    11: "Miscellaneous",
    12: "Miscellaneous",
}
assert all(c is None or c in REACTION_CLASSES for c in SCHNEIDER_SUPERCLASSES.values())


def _check_policy(policy: str) -> None:
    if policy not in OXIDATION_POLICIES:
        raise ValueError(f"oxidation policy must be one of {OXIDATION_POLICIES}, got {policy!r}")


def oxidation_label(policy: str = DEFAULT_OXIDATION_POLICY) -> str | None:
    """What an oxidation becomes under ``policy`` (None: dropped)."""
    _check_policy(policy)
    return {"miscellaneous": "Miscellaneous", "oxidation": OXIDATION, "drop": None}[policy]


def superclass_of(schneider_class: str) -> int | None:
    """``"6.1.5"`` -> 6; None for anything that is not ``N[.N[.N]]`` with N in 1..12."""
    if not isinstance(schneider_class, str):
        return None
    head = schneider_class.strip().split(".", 1)[0]
    if not head.isdigit():
        return None
    number = int(head)
    return number if number in SCHNEIDER_SUPERCLASSES else None


def from_schneider(schneider_class: str, policy: str = DEFAULT_OXIDATION_POLICY) -> str | None:
    """The MiST class of a Schneider class id (None: unknown id, or dropped oxidation)."""
    _check_policy(policy)
    superclass = superclass_of(schneider_class)
    if superclass is None:
        return None
    if superclass == OXIDATION_SUPERCLASS:
        return oxidation_label(policy)
    return SCHNEIDER_SUPERCLASSES[superclass]


def from_rxn_insight(label: str, policy: str = DEFAULT_OXIDATION_POLICY) -> str | None:
    """The MiST class of an rxn-insight label (its ten classes spelled as ours, plus
    "Oxidation"); None for unknown labels or a dropped oxidation."""
    _check_policy(policy)
    if isinstance(label, str) and label.strip().casefold() == OXIDATION.casefold():
        return oxidation_label(policy)
    return answer_class(label)
