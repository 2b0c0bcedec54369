"""Apply the curated templates (:mod:`.templates`) to real molecules shipped with RDKit.

The real molecule comes from ``Data/NCI/first_5K.smi`` (the first file of
:data:`~mist_pl.tasks.data.shipped_molecules.SHIPPED_FILES`); the co-reactants are the
template's fixed simple reagents. A molecule makes a reaction only when:

* it is one organic fragment of 4 to :data:`MAX_HEAVY_ATOMS` heavy atoms (salts and
  huge natural products make implausible substrates);
* the template gives exactly one distinct sanitizable main product (several sites
  would need a selectivity argument a template cannot make);
* the product differs from every reactant and the whole reaction canonicalizes with
  :func:`mist_pl.chem.reactions.canonicalize_reaction`.

Each reaction is written as the rxn_naming build writes real ones (reactants and
agents folded together ``>>`` product, canonical), so synthetic and real rows
deduplicate against each other. Output order follows the molecule file, so it is
deterministic; choosing among the reactions is the caller's (seeded) business.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from rdkit import Chem
from rdkit.Chem import AllChem

from mist_pl.chem.rdkit_quiet import quiet_rdkit
from mist_pl.chem.reactions import canonicalize_reaction
from mist_pl.chem.smiles import mol_to_canonical, parse
from mist_pl.tasks.data.shipped_molecules import shipped_smiles
from mist_pl.tasks.data.tally import Tally
from mist_pl.tasks.data.templates import TEMPLATES, ReactionTemplate, template_by_name

MAX_HEAVY_ATOMS = 40
MIN_HEAVY_ATOMS = 4
MOLECULE_FILE = "NCI/first_5K.smi"  # the origin tag of the file used (see shipped_molecules)
_ORGANIC = frozenset({"C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si"})
MAX_RUNS = 8  # RunReactants outcomes looked at per molecule; more means many sites anyway


@dataclass(frozen=True)
class TemplateReaction:
    reaction: str  # canonical ``reactants.agents>>product``
    template: str
    label: str  # the template's label (a MiST class or "Oxidation")
    molecule_origin: str


def _substrate(smiles: str) -> Chem.Mol | None:
    if "." in smiles:
        return None
    mol = parse(smiles)
    if mol is None or not MIN_HEAVY_ATOMS <= mol.GetNumHeavyAtoms() <= MAX_HEAVY_ATOMS:
        return None
    if any(atom.GetSymbol() not in _ORGANIC for atom in mol.GetAtoms()):
        return None
    return mol


@lru_cache(maxsize=2)
def real_molecules(limit: int | None = None) -> tuple[tuple[str, Chem.Mol, str], ...]:
    """``(canonical SMILES, molecule, origin)`` of the usable NCI molecules, file order,
    first occurrence of each structure (cached: parsing is most of the cost)."""
    tally = Tally()
    out, seen = [], set()
    for smiles, origin in shipped_smiles(tally, limit):
        if MOLECULE_FILE not in origin:
            break  # the NCI file comes first; the others are not needed
        mol = _substrate(smiles)
        canonical = mol_to_canonical(mol) if mol is not None else None
        if canonical is None or canonical in seen:
            continue
        seen.add(canonical)
        out.append((canonical, Chem.MolFromSmiles(canonical), origin))
    return tuple(out)


@lru_cache(maxsize=None)
def _compiled(template: ReactionTemplate) -> tuple[AllChem.ChemicalReaction, tuple[Chem.Mol, ...]]:
    rxn = AllChem.ReactionFromSmarts(template.smarts)
    rxn.Initialize()
    co = tuple(Chem.MolFromSmiles(s) for s in template.co_reactants)
    if rxn.GetNumReactantTemplates() != 1 + len(co) or any(m is None for m in co):
        raise ValueError(f"template {template.name}: needs {rxn.GetNumReactantTemplates() - 1} valid co-reactant(s)")
    return rxn, co


def _products(rxn: AllChem.ChemicalReaction, reactants: tuple[Chem.Mol, ...]) -> set[str]:
    products = set()
    for outcome in rxn.RunReactants(reactants, MAX_RUNS):
        product = Chem.Mol(outcome[0])
        try:
            Chem.SanitizeMol(product)
        except Exception:  # RDKit raises several types for impossible valences/aromaticity
            continue
        canonical = mol_to_canonical(product)
        if canonical is not None:
            products.add(canonical)
    return products


def apply_template(template: ReactionTemplate, smiles: str, mol: Chem.Mol | None = None) -> str | None:
    """The canonical reaction ``template`` makes from the molecule, or None."""
    rxn, co = _compiled(template)
    mol = mol if mol is not None else parse(smiles)
    if mol is None or not mol.HasSubstructMatch(rxn.GetReactantTemplate(0)):
        return None
    if any(not c.HasSubstructMatch(rxn.GetReactantTemplate(i + 1)) for i, c in enumerate(co)):
        return None
    with quiet_rdkit():
        products = _products(rxn, (mol, *co))
    if len(products) != 1:
        return None
    (product,) = products
    reactants = (smiles, *template.co_reactants)
    if product in reactants or product in template.agents:
        return None
    return canonicalize_reaction(f"{'.'.join(reactants + template.agents)}>>{product}", keep_agents=False)


def template_reactions(template: ReactionTemplate, limit: int | None = None) -> tuple[TemplateReaction, ...]:
    """Every distinct reaction ``template`` makes from the shipped molecules, file order."""
    return _template_reactions(template, limit)


def _substrates(template: ReactionTemplate, limit: int | None) -> Iterator[tuple[str, Chem.Mol | None, str]]:
    if template.substrate_via is None:
        yield from real_molecules(limit)
        return
    for made in template_reactions(template_by_name(template.substrate_via), limit):
        yield made.reaction.split(">>")[1], None, made.molecule_origin


@lru_cache(maxsize=None)
def _template_reactions(template: ReactionTemplate, limit: int | None) -> tuple[TemplateReaction, ...]:
    out, seen = [], set()
    for smiles, mol, origin in _substrates(template, limit):
        reaction = apply_template(template, smiles, mol)
        if reaction is not None and reaction not in seen:
            seen.add(reaction)
            out.append(TemplateReaction(reaction, template.name, template.label, origin))
    return tuple(out)


def all_template_reactions(limit: int | None = None) -> Iterator[TemplateReaction]:
    for template in TEMPLATES:
        yield from template_reactions(template, limit)
