"""Natural-language documents about molecules, reactions and crystals for the CPT corpus.

Every fact in a document is computed (RDKit descriptors, the functional-group
SMARTS table, spglib symmetry, SMACT charge balance), never invented, and every
structure appears in its tags. A few sentence templates, chosen and ordered by
a seeded RNG, keep the corpus from being one repeated sentence; the same
``(seed, input)`` always gives the same text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator

from rdkit import Chem
from rdkit.Chem import Descriptors, rdMolDescriptors

from mist_pl.chem.charge_balance import is_charge_balanced
from mist_pl.chem.crystal_limits import DEFAULT_SYMPREC, CrystalError, quiet_pymatgen
from mist_pl.chem.crystals import normalize, shipped_structures, space_group, tag_cif, to_cif
from mist_pl.chem.functional_groups import FUNCTIONAL_GROUPS, find_functional_groups
from mist_pl.chem.reactions import parse_reaction
from mist_pl.chem.smiles import mol_to_canonical, parse, randomize
from mist_pl.chem.substitution import charge_balanced_substitutions, substitute_elements
from mist_pl.chem.tags import wrap_smiles

__all__ = [
    "MoleculeFacts",
    "crystal_documents",
    "describe_molecule",
    "describe_reaction",
    "describe_structure",
    "is_charge_balanced",
    "molecule_facts",
    "substitute_elements",
]


@dataclass(frozen=True)
class MoleculeFacts:
    """What a molecule document states, all computed by RDKit."""

    canonical: str
    formula: str
    exact_mass: float
    average_mass: float
    heavy_atoms: int
    rings: int
    aromatic_rings: int
    hbond_donors: int
    hbond_acceptors: int
    rotatable_bonds: int
    functional_groups: tuple[str, ...]


def molecule_facts(mol: Chem.Mol) -> MoleculeFacts:
    """Descriptors of a parsed molecule."""
    return MoleculeFacts(
        canonical=mol_to_canonical(mol) or "",
        formula=rdMolDescriptors.CalcMolFormula(mol),
        exact_mass=rdMolDescriptors.CalcExactMolWt(mol),
        average_mass=Descriptors.MolWt(mol),
        heavy_atoms=mol.GetNumHeavyAtoms(),
        rings=rdMolDescriptors.CalcNumRings(mol),
        aromatic_rings=rdMolDescriptors.CalcNumAromaticRings(mol),
        hbond_donors=rdMolDescriptors.CalcNumHBD(mol),
        hbond_acceptors=rdMolDescriptors.CalcNumHBA(mol),
        rotatable_bonds=rdMolDescriptors.CalcNumRotatableBonds(mol),
        functional_groups=tuple(find_functional_groups(mol)),
    )


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def _listing(items: list[str] | tuple[str, ...]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


_MOLECULE_INTROS = (
    "{tagged} is a molecule with the formula {formula}.",
    "The compound {tagged} has the molecular formula {formula}.",
    "Molecular formula of {tagged}: {formula}.",
    "Consider the structure {tagged}, whose formula is {formula}.",
)
_MASS_SENTENCES = (
    "Its exact (monoisotopic) mass is {exact:.4f} Da and its average molecular weight is {average:.2f} g/mol.",
    "It weighs {average:.2f} g/mol on average, with an exact mass of {exact:.4f} Da.",
)


def _ring_sentence(facts: MoleculeFacts, rng: random.Random) -> str:
    if facts.rings == 0:
        return rng.choice(("It is acyclic.", "It contains no rings."))
    return f"It contains {_count(facts.rings, 'ring')}, {facts.aromatic_rings} of them aromatic."


def _hbond_sentence(facts: MoleculeFacts, rng: random.Random) -> str:
    donors = _count(facts.hbond_donors, "hydrogen-bond donor")
    acceptors = _count(facts.hbond_acceptors, "hydrogen-bond acceptor")
    return rng.choice((f"It has {donors} and {acceptors}.", f"Counting hydrogen bonding sites: {donors}, {acceptors}."))


def _group_sentence(facts: MoleculeFacts, rng: random.Random) -> str:
    if not facts.functional_groups:
        return "None of the common functional groups (alcohol, amine, carbonyl, halide, ...) is present."
    groups = _listing(facts.functional_groups)
    return rng.choice((f"Functional groups present: {groups}.", f"It features the following groups: {groups}."))


def describe_molecule(smiles: object, seed: int = 0, randomize_smiles: bool = False) -> str | None:
    """A short factual paragraph about one molecule, or None if the SMILES is invalid.

    The tagged SMILES is canonical, or a seeded random spelling with
    ``randomize_smiles`` (a common CPT augmentation).
    """
    mol = parse(smiles)
    if mol is None:
        return None
    facts = molecule_facts(mol)
    rng = random.Random(f"{seed}|{facts.canonical}")
    written = facts.canonical
    if randomize_smiles:
        written = (randomize(facts.canonical, 1, seed=seed) or [facts.canonical])[0]
    intro = rng.choice(_MOLECULE_INTROS).format(tagged=wrap_smiles(written), formula=facts.formula)
    body = [
        rng.choice(_MASS_SENTENCES).format(exact=facts.exact_mass, average=facts.average_mass),
        _ring_sentence(facts, rng),
        _hbond_sentence(facts, rng),
        _group_sentence(facts, rng),
    ]
    rng.shuffle(body)
    return " ".join([intro, *body])


def _molecule_phrase(smiles: str) -> str:
    mol = parse(smiles)
    formula = rdMolDescriptors.CalcMolFormula(mol) if mol is not None else "?"
    return f"{wrap_smiles(smiles)} ({formula})"


def _groups_of(molecules: tuple[str, ...]) -> set[str]:
    groups: set[str] = set()
    for smiles in molecules:
        mol = parse(smiles)
        if mol is not None:
            groups.update(find_functional_groups(mol))
    return groups


def describe_reaction(rxn: object, seed: int = 0) -> str | None:
    """A paragraph about a reaction (each molecule tagged), or None if it is invalid."""
    parsed = parse_reaction(rxn)
    if parsed is None:
        return None
    rng = random.Random(f"{seed}|{parsed.smiles()}")
    reactants = _listing([_molecule_phrase(s) for s in parsed.reactants])
    products = _listing([_molecule_phrase(s) for s in parsed.products])
    sentences = [
        rng.choice((
            f"In this reaction, {reactants} react to give {products}.",
            f"Starting from {reactants}, the reaction yields {products}.",
            f"{products[0].upper() + products[1:]} is obtained from {reactants}."
            if len(parsed.products) == 1 else f"The products {products} are obtained from {reactants}.",
        ))
    ]
    if parsed.agents:
        agents = _listing([_molecule_phrase(s) for s in parsed.agents])
        sentences.append(rng.choice((f"Reagents, catalysts or solvents: {agents}.", f"The conditions involve {agents}.")))
    before, after = _groups_of(parsed.reactants), _groups_of(parsed.products)
    formed = [g for g in FUNCTIONAL_GROUPS if g in after - before]  # table order keeps the text stable
    lost = [g for g in FUNCTIONAL_GROUPS if g in before - after]
    if formed:
        sentences.append(f"Functional groups formed: {_listing(formed)}.")
    if lost:
        sentences.append(f"Functional groups consumed: {_listing(lost)}.")
    return " ".join(sentences)


def describe_structure(structure, seed: int = 0, symprec: float = DEFAULT_SYMPREC) -> str:
    """A paragraph about a crystal (formula, symmetry, lattice, density) ending in its tagged CIF.

    Raises :class:`CrystalError` if the structure cannot be written as CIF.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    with quiet_pymatgen():
        cell = normalize(structure, symprec=symprec)  # refuses a cell spglib cannot take
        symbol, number = space_group(structure, symprec=symprec)
        try:
            system = SpacegroupAnalyzer(structure, symprec=symprec).get_crystal_system()
        except Exception:
            system = "triclinic" if number <= 2 else "unknown"
        try:
            cif = to_cif(cell, symprec=symprec)
        except Exception as error:
            raise CrystalError(f"cannot write CIF: {error}") from error
        formula = structure.composition.reduced_formula
        a, b, c, alpha, beta, gamma = cell.lattice.parameters
        density = float(cell.density)
    rng = random.Random(f"{seed}|{formula}|{number}")
    balanced = is_charge_balanced(structure.composition)
    sentences = [
        rng.choice((
            f"{formula} crystallizes in the {system} space group {symbol} (No. {number}).",
            f"The crystal structure of {formula} has space group {symbol} (number {number}), a {system} lattice.",
        )),
        rng.choice((
            f"The conventional cell has a = {a:.3f} Å, b = {b:.3f} Å, c = {c:.3f} Å, "
            f"alpha = {alpha:.2f}°, beta = {beta:.2f}°, gamma = {gamma:.2f}°, and holds {len(cell)} atoms.",
            f"Its conventional cell ({len(cell)} atoms) measures {a:.3f} x {b:.3f} x {c:.3f} Å "
            f"with angles {alpha:.2f}°, {beta:.2f}°, {gamma:.2f}°.",
        )),
        f"The computed density is {density:.3f} g/cm^3.",
        "SMACT finds a charge-balanced assignment of oxidation states."
        if balanced else "SMACT finds no charge-balanced assignment of common oxidation states.",
    ]
    head, rest = sentences[0], sentences[1:]
    rng.shuffle(rest)
    return " ".join([head, *rest]) + "\n" + tag_cif(cif)


def crystal_documents(
    seed: int = 0, substitutions_per_structure: int = 2, include_prototypes: bool = True
) -> Iterator[tuple[str, str]]:
    """``(name, document)`` for pymatgen's shipped structures and their SMACT-checked substitutions.

    Disordered structures are skipped (CIF documents here describe ordered
    crystals). Substituted ones are named ``<name>+Na->K``.
    """
    for name, structure in shipped_structures(include_prototypes=include_prototypes):
        if not structure.is_ordered:
            continue
        try:
            yield name, describe_structure(structure, seed=seed)
        except CrystalError:
            continue
        for mapping, substituted in charge_balanced_substitutions(structure, substitutions_per_structure, seed):
            label = ",".join(f"{old}->{new}" for old, new in mapping.items())
            try:
                yield f"{name}+{label}", describe_structure(substituted, seed=seed)
            except CrystalError:
                continue
