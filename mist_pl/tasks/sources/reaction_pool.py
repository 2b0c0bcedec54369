"""Turn raw rows into clean :class:`Reaction` objects, shared by every reaction task.

Each reaction is reduced to canonical, map-free molecules: the reactants (with atom
maps: the molecules that give atoms to the product; without: the data set's own
reactant side), the agents (everything else on the left or in the middle), and one
main product (the largest; by-products such as HCl are left out). Its class is the
data set's label mapped to the ten MiST classes (:mod:`.reaction_classes`), or None.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mist_pl.chem.reaction_changes import main_product, mapped_roles
from mist_pl.chem.reactions import parse_reaction
from mist_pl.tasks.examples import Tally
from mist_pl.tasks.sources import reaction_classes
from mist_pl.tasks.sources.raw_reactions import RawReaction


@dataclass(frozen=True)
class Reaction:
    reactants: tuple[str, ...]
    agents: tuple[str, ...]
    product: str
    origin: str
    source: str
    label: str | None = None  # a MiST class (or "Oxidation" under that policy)
    mapped: str | None = None  # the atom-mapped reaction, kept for the SFT traces

    @property
    def transformation(self) -> str:
        """``reactants>>product``: what the reaction does, without conditions."""
        return f"{'.'.join(self.reactants)}>>{self.product}"

    @property
    def with_agents(self) -> str:
        """``reactants.agents>>product`` (agents folded in, as in USPTO-style data sets)."""
        return f"{'.'.join(sorted(self.reactants + self.agents))}>>{self.product}"


def _label(raw: RawReaction, policy: str) -> str | None:
    if raw.label is None:
        return None
    if raw.source == "rxn_insight":
        return reaction_classes.from_rxn_insight(raw.label, policy)
    return reaction_classes.from_schneider(raw.label, policy)


def normalize(raw: RawReaction, tally: Tally, oxidation_policy: str = reaction_classes.DEFAULT_OXIDATION_POLICY) -> Reaction | None:
    """The clean reaction, or None (counted in ``tally`` with the reason)."""
    if raw.mapped:
        roles = mapped_roles(raw.reaction)
        if roles is None:
            tally.drop("invalid or unmapped atom-mapped reaction", raw.origin)
            return None
        reactants, agents, products = roles.reactants, roles.agents, roles.products
    else:
        parsed = parse_reaction(raw.reaction)
        if parsed is None:
            tally.drop("invalid reaction SMILES", raw.origin)
            return None
        reactants, agents, products = parsed.reactants, parsed.agents, parsed.products
    product = main_product(products)
    if product is None:
        tally.drop("no valid product", raw.origin)
        return None
    if product in reactants:
        tally.drop("product is also a reactant", raw.origin)
        return None
    label = _label(raw, oxidation_policy)
    if raw.label is not None and label is None:
        tally.drop("class not mapped (unknown or dropped oxidation)", raw.origin)
    return Reaction(
        reactants=tuple(reactants),
        agents=tuple(agents),
        product=product,
        origin=raw.origin,
        source=raw.source,
        label=label,
        mapped=raw.reaction if raw.mapped else None,
    )


def normalize_all(rows: Iterable[RawReaction], tally: Tally, oxidation_policy: str = reaction_classes.DEFAULT_OXIDATION_POLICY) -> Iterator[Reaction]:
    for raw in rows:
        reaction = normalize(raw, tally, oxidation_policy)
        if reaction is not None:
            yield reaction
