"""Top up thin rxn_naming classes with template reactions, marked synthetic.

Real data leave some of the ten classes thin (schneider50k has no Aromatic
Heterocycle Formation at all; the shipped sample has 60 per class). After the
per-class cap, :func:`fill_thin_classes` adds template reactions
(:func:`template_reactions`) to each class with fewer than ``target`` examples until it
has ``target``, and touches nothing else:

* classes at or above the target get nothing; real rows are never removed or
  replaced, and a template reaction equal to a real one is skipped;
* within a class the templates take turns (each template's reactions in a seeded
  hash order), so one prolific template (amides) does not crowd out the others;
* rows carry ``synthetic: True``, ``source: "template"`` and
  ``origin: "template:<name>|<molecule origin>"``, so a run can drop or weigh them.

A class runs short when its templates make fewer reactions than it needs;
:func:`shortfall` says by how much, and the build reports it.

Template reactions
------------------

The curated templates (:mod:`.templates`) are applied to real molecules shipped with RDKit.
The real molecule comes from ``Data/NCI/first_5K.smi`` (the first file of
:data:`~mist_pl.tasks.sources.shipped_molecules.SHIPPED_FILES`); the co-reactants are the
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

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rdkit import Chem
from rdkit.Chem import AllChem

from mist_pl.chem.rdkit_quiet import quiet_rdkit
from mist_pl.chem.reactions import canonicalize_reaction
from mist_pl.chem.smiles import mol_to_canonical, parse
from mist_pl.tasks.examples import Tally
from mist_pl.tasks.rxn_naming import REACTION_CLASSES
from mist_pl.tasks.sources.reaction_classes import DEFAULT_OXIDATION_POLICY
from mist_pl.tasks.sources.shipped_molecules import shipped_smiles
from mist_pl.tasks.sources.templates import ReactionTemplate, template_by_name, templates_for
from mist_pl.tasks.splits import unit_hash

# -- template reactions ----------------------------------------------------------------

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


# -- filling thin classes --------------------------------------------------------------

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
