"""Built-in offline corpora: real chemistry text for CPT without any download.

Use one in a mixture with ``corpus: <name>``; it brings its files, reader options and
default transform (override with ``transform:``). ``options`` of the source are passed
to the corpus reader where noted.

- ``rdkit_nci`` (molecule): ~5k NCI molecules shipped with RDKit (Data/NCI/first_5K.smi).
- ``rdkit_wehi`` (molecule): 10k WEHI screening molecules (Data/Pains/test_data).
- ``chembl_freewilson`` (molecule): ~1k molecules of a ChEMBL series (Contrib/FreeWilson).
- ``moses`` (molecule): the MOSES set from the ``molsets`` package, option ``split``
  (``train`` 1.6M, ``test`` 176k). Install it with ``pip install --no-deps molsets``: it
  pins ``pomegranate==0.12.0``, which has no wheel for current Pythons (source build
  only), and only its data files are read here, never its code.
- ``pubchem_names`` (name_structure): IUPAC name / SMILES pairs (the mist-demo PubChem
  samples shipped in ``mist_pl/assets/mist_demo``).
- ``demo_reactions`` (reaction): the true reactions of the shipped mist-demo reaction sets.
- ``pymatgen_structures`` (crystal, described): ~300 structures shipped with pymatgen, each
  a paragraph (symmetry, cell, density, charge balance) and its tagged CIF, ~50 ms each
  (option ``prototypes``, default true, includes pymatgen's AFLOW prototypes).
  ``transform: {kind: crystal, style: mixed, describe: true}`` adds the compact format.
- ``general_text`` (text): general English replay text (mist_pl/assets/general_text.txt).
- ``task_sft`` (chat): SFT (prompt, completion) records built from a task of the task
  suite (:mod:`mist_pl.data.task_examples`); options ``task`` (required) and ``path`` (the
  task's data file; by default the file the package ships for it, where there is one).

A corpus whose package or file is missing reports why (:func:`corpus_unavailable_reason`);
a mixture can mark such a source ``optional: true`` to run without it.

:func:`read_source` reads any source of a mixture: a corpus by name, else its files
through the readers of :mod:`mist_pl.data.readers`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator, Optional

from mist_pl import shipped
from mist_pl.data import task_examples
from mist_pl.data.readers import Item, Origin, Record, read_file

ASSETS = shipped.ASSETS


@dataclass(frozen=True)
class Corpus:
    name: str
    # The files it reads, given the source's options; raises LookupError (or ImportError)
    # when unavailable, ValueError when the options are wrong.
    files: Callable[[dict], list[Path]]
    read: Callable[[list[Path], dict], Iterator[Item]]
    transform: dict = field(default_factory=dict)
    # The source options it reads; any other name is a mistake the mixture check reports.
    options: tuple[str, ...] = ()


def _rdkit_file(*parts: str, contrib: bool = False) -> Callable[[], list[Path]]:
    def files(options: dict) -> list[Path]:
        from rdkit import RDConfig

        root = RDConfig.RDContribDir if contrib else RDConfig.RDDataDir
        return [Path(root, *parts)]

    return files


def _moses_files(options: dict) -> list[Path]:
    # find_spec locates the package without importing it (importing needs its heavy deps).
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise LookupError("package 'molsets' is not installed (pip install --no-deps molsets)")
    root = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "data"
    return [root / "train.csv.gz", root / "test.csv.gz"]


def _general_text_files(options: dict) -> list[Path]:
    preferred = ASSETS / "general_text.txt"
    if preferred.is_file():
        return [preferred]
    others = sorted(ASSETS.glob("*.txt"))
    if not others:
        raise LookupError(f"no general text asset in {ASSETS}")
    return others


def _pymatgen_files(options: dict) -> list[Path]:
    import pymatgen.core

    return [Path(pymatgen.core.__file__).parent]


def _smiles_table(delimiter: str, header: bool = False) -> Callable[[list[Path], dict], Iterator[Item]]:
    def read(files: list[Path], options: dict) -> Iterator[Item]:
        columns = None if header else ["smiles", "id"]
        for path in files:
            yield from read_file(str(path), "csv", {"delimiter": delimiter, "header": header, "columns": columns})

    return read


def _read_moses(files: list[Path], options: dict) -> Iterator[Item]:
    split = options.get("split", "train")
    chosen = [p for p in files if p.name.startswith(f"{split}.")]
    if not chosen:
        raise ValueError(f"moses option split={split!r}: expected 'train' or 'test'")
    for path in chosen:
        yield from read_file(str(path), "csv")


def _read_csvs(files: list[Path], options: dict) -> Iterator[Item]:
    for path in files:
        yield from read_file(str(path), "csv")


def _read_demo_reactions(files: list[Path], options: dict) -> Iterator[Item]:
    """One record per reaction: ``reaction`` and ``label`` (the inversion set's true reactions are true)."""
    for path in files:
        for item in read_file(str(path), "csv"):
            if isinstance(item, Record):
                row = item.fields
                if "true_reaction" in row:
                    item = Record({"reaction": row["true_reaction"], "label": "true"}, item.origin)
            yield item


def _read_pymatgen(files: list[Path], options: dict) -> Iterator[Item]:
    """Option ``prototypes`` (default true) adds pymatgen's AFLOW prototype library."""
    import warnings

    # Inside: pymatgen loads only when a source reads the shipped structures.
    from mist_pl.chem.crystals import shipped_structures, to_cif

    structures = shipped_structures(include_prototypes=options.get("prototypes", True))
    for number, (name, structure) in enumerate(structures, start=1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen's per-structure CIF remarks
            cif = to_cif(structure)
        yield Record({"cif": cif, "name": str(name)}, Origin(f"pymatgen:{name}", number))


def _read_text_blocks(files: list[Path], options: dict) -> Iterator[Item]:
    for path in files:
        yield from read_file(str(path), "txt", {"mode": options.get("mode", "block")})


_MOLECULE = {"kind": "molecule", "column": "smiles", "randomize": 0.5}

CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in [
        Corpus("rdkit_nci", _rdkit_file("NCI", "first_5K.smi"), _smiles_table("\t"), _MOLECULE),
        Corpus("rdkit_wehi", _rdkit_file("Pains", "test_data", "wehi_mols.csv"), _smiles_table(","), _MOLECULE),
        Corpus(
            "chembl_freewilson",
            _rdkit_file("FreeWilson", "data", "CHEMBL2321810.smi", contrib=True),
            _smiles_table(" "),
            _MOLECULE,
        ),
        Corpus("moses", _moses_files, _read_moses, {**_MOLECULE, "column": "SMILES"}, ("split",)),
        Corpus(
            "pubchem_names",
            lambda options: [
                shipped.mist_demo_file("pubchem/CRLLM-PubChem-compounds1M.sample.csv"),
                shipped.mist_demo_file("pubchem/CRLLM-PubChem-compounds1M-very_very_simple.sample.csv"),
            ],
            _read_csvs,
            {"kind": "name_structure", "name_column": "IUPAC", "smiles_column": "SMILES"},
        ),
        Corpus(
            "demo_reactions",
            lambda options: [shipped.mist_demo_file("reactions/rxn_inversion_sample.csv"),
                             shipped.mist_demo_file("reactions/rxn_truefalse_sample.csv")],
            _read_demo_reactions,
            {"kind": "reaction", "column": "reaction", "where": {"label": "true"}},
        ),
        Corpus(
            "pymatgen_structures", _pymatgen_files, _read_pymatgen, {"kind": "crystal", "column": "cif", "describe": True},
            ("prototypes",),
        ),
        Corpus("general_text", _general_text_files, _read_text_blocks, {"kind": "text", "column": "text"}, ("mode",)),
        Corpus("task_sft", task_examples.example_files, task_examples.read_sft_records, {"kind": "chat"}, task_examples.OPTIONS),
        Corpus("task_text", task_examples.text_files, task_examples.read_text_records, {"kind": "text", "column": "text"},
               task_examples.TEXT_OPTIONS),
    ]
}


def get_corpus(name: str) -> Corpus:
    if name not in CORPORA:
        raise KeyError(f"unknown corpus {name!r}; built-in corpora: {sorted(CORPORA)}")
    return CORPORA[name]


def corpus_unavailable_reason(corpus: Corpus, options: Optional[dict] = None) -> Optional[str]:
    """Why ``corpus`` cannot be read here (missing package or file), or None when it can.

    Wrong ``options`` raise ``ValueError`` (a mistake in the mixture, not a missing file)."""
    try:
        files = corpus.files(dict(options or {}))
    except (LookupError, ImportError) as err:
        return f"corpus {corpus.name!r} unavailable: {err}"
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        return f"corpus {corpus.name!r} unavailable: file not found: {', '.join(missing)}"
    return None


def read_corpus(name: str, options: Optional[dict] = None) -> Iterator[Item]:
    corpus = get_corpus(name)
    options = dict(options or {})
    return corpus.read(corpus.files(options), options)


def read_source(spec) -> Iterator[Item]:
    """All items of a source (a :class:`~mist_pl.data.config.SourceSpec`), in a fixed order."""
    if spec.corpus is not None:
        items = read_corpus(spec.corpus, spec.options)
    else:
        items = (item for path in spec.paths() for item in read_file(path, spec.format, spec.options))
    return islice(items, spec.max_records) if spec.max_records else items
