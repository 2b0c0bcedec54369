"""Examples for each task from the fetched raw files (``--source raw``).

Each task names its raw source in its :class:`~mist_pl.tasks.registry.Task`
(``raw_examples``, the import path of one of the builders here, which import the task
modules back); :func:`raw_examples` looks it up.

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
crystal_relax             none (``--source fixtures`` or ``--source file``)
========================  =============================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mist_pl.chem.charge_balance import DEFAULT_OXIDATION_STATES
from mist_pl.chem.smiles import canonicalize, randomize
from mist_pl.tasks import get_task
from mist_pl.tasks.examples import Tally
from mist_pl.tasks.material_checks import ChargeSettings
from mist_pl.tasks.sources import layout
from mist_pl.tasks.sources import reaction_examples as rx
from mist_pl.tasks.sources.materials import shipped_material_requests
from mist_pl.tasks.sources.name_pairs import confirmed_pairs
from mist_pl.tasks.sources.ord_compounds import read_datasets
from mist_pl.tasks.sources.raw_reactions import (
    RawReaction,
    read_ord_reactions,
    read_rxn_insight,
    read_schneider,
    read_uspto_yields,
)
from mist_pl.tasks.sources.reaction_classes import DEFAULT_OXIDATION_POLICY
from mist_pl.tasks.sources.reaction_examples import unique_reactions
from mist_pl.tasks.sources.reaction_pool import normalize_all
from mist_pl.tasks.sources.shipped_molecules import shipped_smiles

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


def canonicalization_examples(options: RawOptions, tally: Tally) -> list[dict]:
    """canonicalization: RDKit's shipped molecules and ORD compounds, as written and as
    ``options.smiles_variants`` seeded random spellings."""

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


def rxn_naming_examples(options: RawOptions, tally: Tally) -> list[dict]:
    """rxn_naming: the labelled reaction sources, at most ``options.cap_per_class`` per class."""
    pool = reaction_pool(options, tally, labelled_only=True)
    return rx.naming_examples(pool, tally, options.cap_per_class, options.seed)


def rxn_prediction_examples(options: RawOptions, tally: Tally) -> list[dict]:
    """rxn_prediction: every reaction of the pool."""
    return rx.prediction_examples(reaction_pool(options, tally))


def rxn_mcq_examples(options: RawOptions, tally: Tally) -> list[dict]:
    """rxn_mcq: each reaction of the pool against corrupted versions of it."""
    return rx.mcq_examples(reaction_pool(options, tally), tally, options.seed, options.fractions)


def rxn_true_false_examples(options: RawOptions, tally: Tally) -> list[dict]:
    """rxn_true_false: reactions of the pool and corrupted ones, balanced."""
    return rx.true_false_examples(reaction_pool(options, tally), tally, options.seed, options.fractions)


def iupac_to_smiles_examples(options: RawOptions, tally: Tally) -> list[dict]:
    """iupac_to_smiles: name/SMILES pairs that OPSIN confirms."""
    return confirmed_pairs(_name_pairs(options, tally), tally)


def cond_mat_gen_examples(options: RawOptions, tally: Tally) -> list[dict]:
    """cond_mat_gen: requests from pymatgen's shipped structures and their substitutions,
    charge balanced under the options' rule."""
    charge = ChargeSettings(options.oxidation_states, options.mixed_valence)
    return list(shipped_material_requests(tally, options.substitutions, options.seed, options.limit, charge))


def raw_examples(task: str, options: RawOptions, tally: Tally) -> list[dict]:
    """Examples for ``task`` from the raw files (not yet split), by its
    :attr:`Task.raw_examples`."""
    source = get_task(task).example_source("raw")
    if source is None:
        raise ValueError(f"no raw source for task {task!r}")
    return source(options, tally)
