"""Examples for each task from the fetched raw files (``--source raw``).

========================  =============================================================
task                      sources
========================  =============================================================
rxn_naming                schneider50k (classes mapped) + rxn-insight's 1,000 reactions
rxn_prediction, rxn_mcq,  the same reactions plus ORD's 14,798 (and, on request, the
rxn_true_false            ~500k uspto_yields reactions)
iupac_to_smiles           the shipped mist-demo PubChem names + ORD name/SMILES
                          pairs, all confirmed by OPSIN
canonicalization          molecules shipped with RDKit + ORD compounds, as written and
                          as seeded random SMILES
cond_mat_gen              pymatgen's shipped structures and prototypes + SMACT-checked
                          substitutions (needs no raw file)
========================  =============================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mist_pl.chem.charge_balance import DEFAULT_OXIDATION_STATES
from mist_pl.chem.smiles import canonicalize, randomize
from mist_pl.tasks import get_task
from mist_pl.tasks.data import layout, reaction_examples as rx
from mist_pl.tasks.data.materials import shipped_material_requests
from mist_pl.tasks.data.name_pairs import confirmed_pairs
from mist_pl.tasks.data.ord_compounds import read_datasets
from mist_pl.tasks.data.raw_reactions import RawReaction, read_ord_reactions, read_rxn_insight, read_schneider, read_uspto_yields
from mist_pl.tasks.data.reaction_classes import DEFAULT_OXIDATION_POLICY
from mist_pl.tasks.data.reaction_examples import unique_reactions
from mist_pl.tasks.data.reaction_pool import normalize_all
from mist_pl.tasks.data.shipped_molecules import shipped_smiles
from mist_pl.tasks.data.tally import Tally
from mist_pl.tasks.material_checks import ChargeSettings

REACTION_SOURCES = ("schneider", "rxn_insight", "orderly", "uspto_yields")
DEFAULT_REACTION_SOURCES = ("schneider", "rxn_insight", "orderly")
NAMING_SOURCES = ("schneider", "rxn_insight")  # the labelled ones


@dataclass(frozen=True)
class RawOptions:
    raw_dir: Path = layout.DEFAULT_RAW_DIR
    limit: int | None = None  # rows read per source file
    seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    oxidation_policy: str = DEFAULT_OXIDATION_POLICY
    cap_per_class: int | None = 2000
    fill_thin_classes: int = 0  # rxn_naming: top classes up to N with synthetic template reactions
    reaction_sources: tuple[str, ...] = DEFAULT_REACTION_SOURCES
    smiles_variants: int = 1  # random spellings per molecule for canonicalization
    substitutions: int = 2  # substituted variants per shipped structure
    demo_dir: Path | None = None
    oxidation_states: str = DEFAULT_OXIDATION_STATES  # cond_mat_gen: charge-balance set (mist_pl.chem.charge_balance)
    mixed_valence: bool = False
    input_file: Path | None = None  # --source file: the task's own file format
    reaction_column: str | None = None  # rxn_naming --source file: column names (default: found by name)
    class_column: str | None = None


def _raw_reactions(options: RawOptions, sources: tuple[str, ...], tally: Tally) -> Iterator[RawReaction]:
    raw = Path(options.raw_dir)
    unknown = set(sources) - set(REACTION_SOURCES)
    if unknown:
        raise ValueError(f"unknown reaction source(s) {sorted(unknown)}; known: {REACTION_SOURCES}")
    if "schneider" in sources:
        yield from read_schneider(layout.raw_file(raw, layout.SCHNEIDER), tally, options.limit)
    if "rxn_insight" in sources:
        rows = read_rxn_insight(layout.raw_file(raw, layout.RXN_INSIGHT), tally)
        yield from (row for n, row in enumerate(rows) if options.limit is None or n < options.limit)
    if "orderly" in sources:
        rows = read_ord_reactions(layout.raw_file(raw, layout.ORD_REACTIONS), tally)
        yield from (row for n, row in enumerate(rows) if options.limit is None or n < options.limit)
    if "uspto_yields" in sources:
        for relative in layout.USPTO_YIELDS:
            yield from read_uspto_yields(layout.raw_file(raw, relative), tally, options.limit)


def reaction_pool(options: RawOptions, tally: Tally, labelled_only: bool = False) -> list:
    sources = tuple(s for s in options.reaction_sources if not labelled_only or s in NAMING_SOURCES)
    rows = _raw_reactions(options, sources, tally)
    return unique_reactions(normalize_all(rows, tally, options.oxidation_policy), tally)


def _name_pairs(options: RawOptions, tally: Tally) -> Iterator[tuple[str, str, str]]:
    demo = layout.demo_root(options.demo_dir)
    for relative in FIXTURE_PUBCHEM:
        examples = get_task("iupac_to_smiles").load_examples(layout.require(demo / relative, "a mist-demo fixture file"))
        tally.absorb(examples.skipped)
        yield from ((e["name"], e["answer"], e["origin"]) for e in examples[: options.limit])
    compounds = read_datasets(layout.raw_file(Path(options.raw_dir), layout.ORD_DATASETS), tally)
    for n, compound in enumerate(compounds):
        if options.limit is not None and n >= options.limit:
            break
        yield compound.name, compound.smiles, compound.origin


FIXTURE_PUBCHEM = (
    "pubchem/CRLLM-PubChem-compounds1M.sample.csv",
    "pubchem/CRLLM-PubChem-compounds1M-very_very_simple.sample.csv",
)


def _canonicalization_examples(options: RawOptions, tally: Tally) -> list[dict]:
    def molecules() -> Iterator[tuple[str, str]]:
        yield from shipped_smiles(tally, options.limit)
        compounds = read_datasets(layout.raw_file(Path(options.raw_dir), layout.ORD_DATASETS), tally)
        for n, compound in enumerate(compounds):
            if options.limit is not None and n >= options.limit:
                break
            yield compound.smiles, compound.origin

    examples, seen = [], set()
    for smiles, origin in molecules():
        canonical = canonicalize(smiles)
        if canonical is None:
            tally.drop("input SMILES is not valid", origin)
            continue
        if canonical in seen:
            tally.drop("duplicate molecule", origin)
            continue
        seen.add(canonical)
        spellings = [smiles] if smiles != canonical else []
        spellings += [v for v in randomize(canonical, options.smiles_variants, seed=options.seed) if v not in spellings and v != canonical]
        if not spellings:
            tally.drop("no spelling other than the canonical one", origin)
        examples.extend({"smiles": s, "answer": canonical, "origin": origin} for s in spellings)
    return examples


def raw_examples(task: str, options: RawOptions, tally: Tally) -> list[dict]:
    """Examples for ``task`` from the raw files (not yet split)."""
    if task == "rxn_naming":
        pool = reaction_pool(options, tally, labelled_only=True)
        return rx.naming_examples(pool, tally, options.cap_per_class, options.seed)
    if task == "rxn_prediction":
        return rx.prediction_examples(reaction_pool(options, tally))
    if task == "rxn_mcq":
        return rx.mcq_examples(reaction_pool(options, tally), tally, options.seed, options.fractions)
    if task == "rxn_true_false":
        return rx.true_false_examples(reaction_pool(options, tally), tally, options.seed, options.fractions)
    if task == "iupac_to_smiles":
        return confirmed_pairs(_name_pairs(options, tally), tally)
    if task == "canonicalization":
        return _canonicalization_examples(options, tally)
    if task == "cond_mat_gen":
        charge = ChargeSettings(options.oxidation_states, options.mixed_valence)
        return list(shipped_material_requests(tally, options.substitutions, options.seed, options.limit, charge))
    raise ValueError(f"no raw source for task {task!r}")
