"""A small SMARTS table of functional groups, for describing molecules in text.

The patterns are deliberately simple and readable (Daylight SMARTS); they aim
at the groups a chemist would name first, not at a complete ontology. Order is
the order names appear in descriptions.
"""

from __future__ import annotations

from functools import lru_cache

from rdkit import Chem

FUNCTIONAL_GROUPS: dict[str, tuple[str, ...]] = {
    "carboxylic acid": ("[CX3](=O)[OX2H1]",),
    "carboxylate": ("[CX3](=O)[OX1-]",),
    "ester": ("[#6][CX3](=O)[OX2H0][#6]",),
    "amide": ("[NX3][CX3](=[OX1])",),
    "acyl halide": ("[CX3](=O)[F,Cl,Br,I]",),
    "aldehyde": ("[CX3H1](=O)[#6]", "[CX3H2]=O"),
    "ketone": ("[#6][CX3](=O)[#6]",),
    "alcohol": ("[OX2H][CX4]",),
    "phenol": ("[OX2H]c",),
    "ether": ("[OD2;!$(O[C,S,P]=O)]([#6])[#6]",),
    # amine (anilines included): neutral trivalent N, not acylated/sulfonylated, no N-N, N-O, N-S, N=X
    "amine": ("[NX3;+0;!$(N[C,S,P]=[O,S,N]);!$(N-[N,O,S]);!$(N=*)]",),
    "nitrile": ("[NX1]#[CX2]",),
    "nitro": ("[$([NX3](=O)=O),$([NX3+](=O)[O-])]",),
    "halide": ("[CX4,c][F,Cl,Br,I]",),  # alkyl / aryl halide (acyl halides listed above)
    "thiol": ("[#6][SX2H]",),
    "sulfonamide": ("[SX4](=O)(=O)[NX3]",),
    "sulfone": ("[#6][SX4](=O)(=O)[#6]",),
    "alkene": ("[CX3]=[CX3]",),
    "alkyne": ("[CX2]#[CX2]",),
    "aromatic ring": ("a1aaaa1", "a1aaaaa1"),
}


@lru_cache(maxsize=1)
def _compiled() -> dict[str, tuple[Chem.Mol, ...]]:
    compiled = {}
    for name, patterns in FUNCTIONAL_GROUPS.items():
        queries = tuple(Chem.MolFromSmarts(pattern) for pattern in patterns)
        if any(query is None for query in queries):
            raise ValueError(f"bad SMARTS for {name!r}: {patterns}")
        compiled[name] = queries
    return compiled


def find_functional_groups(mol: Chem.Mol) -> list[str]:
    """Names of the groups in :data:`FUNCTIONAL_GROUPS` present in ``mol``, in table order."""
    return [name for name, queries in _compiled().items() if any(mol.HasSubstructMatch(q) for q in queries)]


def count_functional_groups(mol: Chem.Mol) -> dict[str, int]:
    """How many distinct occurrences of each group ``mol`` has (groups absent are left
    out); an occurrence is a distinct set of matched atoms, over all of a group's patterns."""
    counts = {}
    for name, queries in _compiled().items():
        matched = {frozenset(match) for query in queries for match in mol.GetSubstructMatches(query)}
        if matched:
            counts[name] = len(matched)
    return counts
