"""Reaction SMILES ``reactants>agents>products`` (or ``reactants>>products``).

The canonical form of a reaction used everywhere in mist-pl: each side is split
on ``.`` into molecules, every molecule is canonicalized with atom maps removed,
and the molecules of a side are sorted and joined with ``.``. Two spellings of
the same reaction (different atom mapping, molecule order, or SMILES spelling)
therefore compare equal as strings. Fragments of a salt become separate
molecules (``[Na+].[Cl-]``), which is harmless for comparison.

Input is bounded (:data:`MAX_REACTION_LEN`, :data:`MAX_MOLECULES`) and a
CXSMILES extension (`` |f:0.1|``, as in USPTO exports) after whitespace is
dropped. Functions answer None on anything invalid, never raise.
"""

from __future__ import annotations

from dataclasses import dataclass

from mist_pl.chem.smiles import MAX_SMILES_LEN, strip_atom_maps

MAX_REACTION_LEN = 4 * MAX_SMILES_LEN
MAX_MOLECULES = 64
"""Most molecules accepted across the three sides of one reaction."""


@dataclass(frozen=True)
class ReactionParse:
    """A reaction with every molecule canonical, atom maps stripped, each side sorted."""

    reactants: tuple[str, ...]
    agents: tuple[str, ...]
    products: tuple[str, ...]

    def smiles(self, keep_agents: bool = True) -> str:
        """Reaction SMILES; ``keep_agents=False`` moves agents into the reactants."""
        if keep_agents:
            return f"{_join(self.reactants)}>{_join(self.agents)}>{_join(self.products)}"
        return f"{_join(self.reactants + self.agents)}>>{_join(self.products)}"


def _join(molecules: tuple[str, ...]) -> str:
    return ".".join(sorted(molecules))


def split_reaction(rxn: object) -> tuple[str, str, str] | None:
    """The raw ``(reactants, agents, products)`` strings, or None if not a reaction.

    Only the shape is checked here: exactly two ``>`` and a bounded length.
    """
    if not isinstance(rxn, str) or len(rxn) > MAX_REACTION_LEN + 256:
        return None
    text = rxn.strip()
    parts = text.split(None, 1)
    if not parts:
        return None
    if len(parts) == 2 and not parts[1].startswith("|"):
        return None  # free text after the reaction: not ours to guess
    text = parts[0]
    if len(text) > MAX_REACTION_LEN or text.count(">") != 2:
        return None
    reactants, agents, products = text.split(">")
    return reactants, agents, products


def _canonical_side(side: str) -> tuple[str, ...] | None:
    if not side:
        return ()
    molecules = []
    for fragment in side.split("."):
        canonical = strip_atom_maps(fragment)
        if canonical is None:
            return None
        molecules.append(canonical)
    return tuple(sorted(molecules))


def parse_reaction(rxn: object) -> ReactionParse | None:
    """Canonical :class:`ReactionParse`, or None if any molecule is invalid.

    A valid reaction needs at least one reactant and one product; agents may be empty.
    """
    sides = split_reaction(rxn)
    if sides is None:
        return None
    reactants, agents, products = sides
    if not reactants or not products:
        return None
    if sum(side.count(".") + 1 for side in sides if side) > MAX_MOLECULES:
        return None
    parsed = [_canonical_side(side) for side in sides]
    if any(side is None for side in parsed):
        return None
    return ReactionParse(*parsed)  # type: ignore[arg-type]


def canonicalize_reaction(rxn: object, keep_agents: bool = True) -> str | None:
    """Canonical reaction SMILES (see module docstring), or None if invalid."""
    parsed = parse_reaction(rxn)
    return None if parsed is None else parsed.smiles(keep_agents)


def is_valid_reaction(rxn: object) -> bool:
    """True if every molecule parses and both reactants and products are present."""
    return parse_reaction(rxn) is not None


def same_reaction(a: object, b: object, keep_agents: bool = False) -> bool:
    """True if both reactions are valid and canonically equal.

    Agents are folded into reactants by default because data sets disagree on
    which side a reagent belongs to.
    """
    canonical_a = canonicalize_reaction(a, keep_agents)
    return canonical_a is not None and canonical_a == canonicalize_reaction(b, keep_agents)


def reaction_problems(rxn: object) -> list[str]:
    """Human-readable reasons a reaction is invalid (empty list if it is valid)."""
    if not isinstance(rxn, str):
        return [f"not a string ({type(rxn).__name__})"]
    sides = split_reaction(rxn)
    if sides is None:
        if len(rxn.strip()) > MAX_REACTION_LEN:
            return [f"longer than MAX_REACTION_LEN={MAX_REACTION_LEN}"]
        return ["not of the form reactants>agents>products"]
    problems = []
    for name, side in zip(("reactants", "agents", "products"), sides):
        if not side and name != "agents":
            problems.append(f"no {name}")
        for fragment in side.split(".") if side else ():
            if strip_atom_maps(fragment) is None:
                problems.append(f"invalid {name[:-1]} SMILES: {fragment[:80]!r}")
    if sum(side.count(".") + 1 for side in sides if side) > MAX_MOLECULES:
        problems.append(f"more than MAX_MOLECULES={MAX_MOLECULES} molecules")
    return problems
