"""What changes between the reactants and the product of a reaction, computed by RDKit.

* :func:`mapped_roles`: split an atom-mapped reaction into the molecules that give
  atoms to the product (reactants) and the rest (reagents, solvents, catalysts).
* :func:`bond_changes`: heavy-atom bonds formed, broken and changed in order, by
  element pair ("C-N", "C=O", "C:N" aromatic), from the atom maps.
* :func:`bond_count_changes`: the same question without atom maps: the difference of
  bond-type counts between the reactant and product molecules (coarser: it sees only
  net changes).
* :func:`functional_group_changes`: how many of each group of
  :data:`~mist_pl.chem.functional_groups.FUNCTIONAL_GROUPS` appear or disappear.

Inputs are SMILES strings (any may be invalid: such molecules are left out); nothing
here raises on bad input. Hydrogens are implicit and not counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from rdkit import Chem

from mist_pl.chem.functional_groups import count_functional_groups
from mist_pl.chem.reactions import split_reaction
from mist_pl.chem.smiles import parse, strip_atom_maps

_BOND_SYMBOLS = {
    Chem.BondType.SINGLE: "-",
    Chem.BondType.DOUBLE: "=",
    Chem.BondType.TRIPLE: "#",
    Chem.BondType.AROMATIC: ":",
}


def _element_order(symbol: str) -> tuple[int, str]:
    # carbon first, hydrogen next, then alphabetical: how chemists write "C-N", "C-Cl"
    return (0 if symbol == "C" else 1 if symbol == "H" else 2, symbol)


def bond_label(a: str, b: str, bond_type: Chem.BondType) -> str:
    """``"C-N"``, ``"C=O"``, ``"C:N"``: element symbols in chemist order and the bond order."""
    first, second = sorted((a, b), key=_element_order)
    return f"{first}{_BOND_SYMBOLS.get(bond_type, '~')}{second}"


def _fragments(side: str) -> list[str]:
    return [f for f in side.split(".") if f] if side else []


def _map_numbers(mol: Chem.Mol) -> set[int]:
    return {atom.GetAtomMapNum() for atom in mol.GetAtoms() if atom.GetAtomMapNum()}


def main_product(products: list[str] | tuple[str, ...]) -> str | None:
    """The product with the most heavy atoms (by-products such as HCl or water are
    smaller); ties broken by the canonical string so the choice is stable."""
    best: tuple[int, str] | None = None
    for smiles in products:
        mol = parse(smiles)
        if mol is None:
            continue
        canonical = strip_atom_maps(smiles)
        key = (mol.GetNumHeavyAtoms(), canonical or "")
        if canonical and (best is None or key > best):
            best = key
    return best[1] if best else None


@dataclass(frozen=True)
class Roles:
    """Canonical, map-free SMILES by role (each tuple sorted)."""

    reactants: tuple[str, ...]
    agents: tuple[str, ...]
    products: tuple[str, ...]


def mapped_roles(mapped_reaction: str) -> Roles | None:
    """Reactants = left-side molecules with at least one mapped atom that reappears in
    a product; the other left-side molecules and the middle section are agents. None if
    the reaction is not ``a>b>c`` with valid molecules or no reactant keeps an atom."""
    sides = split_reaction(mapped_reaction)
    if sides is None:
        return None
    left, middle, right = sides
    product_mols = [parse(f) for f in _fragments(right)]
    if not product_mols or any(m is None for m in product_mols):
        return None
    in_products = set().union(*(_map_numbers(m) for m in product_mols))
    reactants, agents = [], []
    for fragment in _fragments(left):
        mol = parse(fragment)
        if mol is None:
            return None
        canonical = strip_atom_maps(fragment)
        (reactants if _map_numbers(mol) & in_products else agents).append(canonical)
    for fragment in _fragments(middle):
        canonical = strip_atom_maps(fragment)
        if canonical is None:
            return None
        agents.append(canonical)
    products = [strip_atom_maps(f) for f in _fragments(right)]
    if not reactants or any(p is None for p in products):
        return None
    return Roles(tuple(sorted(reactants)), tuple(sorted(agents)), tuple(sorted(products)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class BondChanges:
    """Bond labels counted: formed (new in the product), broken (gone from the
    reactants), and order changes as ``"C-C>C=C"``."""

    formed: Counter = field(default_factory=Counter)
    broken: Counter = field(default_factory=Counter)
    order_changed: Counter = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.formed or self.broken or self.order_changed)


def _mapped_bonds(mol: Chem.Mol) -> dict[tuple[int, int], str]:
    bonds = {}
    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtom(), bond.GetEndAtom()
        if a.GetAtomMapNum() and b.GetAtomMapNum():
            key = tuple(sorted((a.GetAtomMapNum(), b.GetAtomMapNum())))
            bonds[key] = bond_label(a.GetSymbol(), b.GetSymbol(), bond.GetBondType())
    return bonds


def bond_changes(mapped_reaction: str) -> BondChanges | None:
    """Heavy-atom bond changes of an atom-mapped reaction (agents in the middle section
    are ignored). A bond from a product atom to an atom that does not reach the product
    (a leaving group) counts as broken. None if the reaction has no usable mapping."""
    sides = split_reaction(mapped_reaction)
    if sides is None:
        return None
    left, _middle, right = sides
    reactant_mols = [parse(f) for f in _fragments(left)]
    product_mols = [parse(f) for f in _fragments(right)]
    if not reactant_mols or not product_mols or any(m is None for m in reactant_mols + product_mols):
        return None
    product_bonds: dict[tuple[int, int], str] = {}
    for mol in product_mols:
        product_bonds.update(_mapped_bonds(mol))
    in_products = set().union(*(_map_numbers(m) for m in product_mols))
    if not in_products:
        return None
    changes = BondChanges()
    seen: set[tuple[int, int]] = set()
    for mol in reactant_mols:
        for bond in mol.GetBonds():
            a, b = bond.GetBeginAtom(), bond.GetEndAtom()
            map_a, map_b = a.GetAtomMapNum(), b.GetAtomMapNum()
            kept_a, kept_b = map_a in in_products, map_b in in_products
            if not (kept_a or kept_b):
                continue  # a bond inside a leaving group or a spectator
            label = bond_label(a.GetSymbol(), b.GetSymbol(), bond.GetBondType())
            if not (kept_a and kept_b):
                changes.broken[label] += 1  # bond to a leaving group
                continue
            key = (min(map_a, map_b), max(map_a, map_b))
            seen.add(key)
            after = product_bonds.get(key)
            if after is None:
                changes.broken[label] += 1
            elif after != label:
                changes.order_changed[f"{label}>{after}"] += 1
    for key, label in product_bonds.items():
        if key not in seen:
            changes.formed[label] += 1
    return changes


def _molecules(smiles_list: list[str] | tuple[str, ...]) -> Iterator[Chem.Mol]:
    """The molecules of ``smiles_list`` that RDKit reads (the others are left out)."""
    for smiles in smiles_list:
        mol = parse(smiles)
        if mol is not None:
            yield mol


def _bond_counts(smiles_list: list[str] | tuple[str, ...]) -> Counter:
    return Counter(
        bond_label(bond.GetBeginAtom().GetSymbol(), bond.GetEndAtom().GetSymbol(), bond.GetBondType())
        for mol in _molecules(smiles_list)
        for bond in mol.GetBonds()
    )


def bond_count_changes(reactants: list[str] | tuple[str, ...], products: list[str] | tuple[str, ...]) -> BondChanges:
    """Net bond-type count differences (no atom maps needed): ``formed`` holds bond
    types the products have more of, ``broken`` those the reactants have more of."""
    before, after = _bond_counts(reactants), _bond_counts(products)
    return BondChanges(formed=after - before, broken=before - after)


def group_counts(smiles_list: list[str] | tuple[str, ...]) -> Counter:
    """Occurrences of each functional group (distinct matches of its patterns)."""
    counts: Counter = Counter()
    for mol in _molecules(smiles_list):
        counts.update(count_functional_groups(mol))
    return counts


def functional_group_changes(
    reactants: list[str] | tuple[str, ...], products: list[str] | tuple[str, ...]
) -> tuple[Counter, Counter]:
    """``(appeared, disappeared)``: groups the products have more / fewer of than the reactants."""
    before, after = group_counts(reactants), group_counts(products)
    return after - before, before - after
