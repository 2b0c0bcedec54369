"""Crystal relaxation (optional task): perturbed structure -> relaxed structure.

The prompt gives a crystal in the compact ``serialized_cif`` format
(:mod:`mist_pl.chem.crystal_compact`) whose geometry is off equilibrium; the model
answers the relaxed structure in the same compact format or as a CIF.

Reward (per completion, :func:`crystal_relax_reward`, batched so CHGNet sees all the
valid answers of a batch in one call):

* :data:`INVALID` (-1): no answer, neither format parses, too many atoms
  (:data:`MAX_ATOMS`), atoms closer than 0.5 A, or a cell denser than
  :data:`MIN_VOLUME_PER_ATOM_A3`, or CHGNet cannot evaluate it.
* :data:`WRONG_COMPOSITION` (-0.75): a valid structure whose reduced composition
  differs from the input's.
* otherwise ``ENERGY_WEIGHT * energy_term + MATCH_BONUS * matches_reference``, in
  [-0.5, 1.0]. ``energy_term`` = clip((E_in - E_out) / ENERGY_SCALE_EV, -1, 1) with the
  CHGNet energies per atom of the input and the answer, after a dead zone of
  :data:`ENERGY_TOL_EV` (differences that small are below the potential's resolution
  and would only add noise to the advantages). ``matches_reference``: pymatgen's
  StructureMatcher with tight tolerances and no volume scaling
  (:data:`MATCH_TOLERANCES`) finds the answer equal to the reference relaxed structure.

``None`` (no reward) when the example has no usable input structure or when CHGNet is
not installed (``pip install 'mist-pl[materials]'``; a warning says so once per process).
CHGNet ships its weights inside the wheel, so nothing is downloaded. It is imported
lazily: importing this module loads neither torch nor chgnet. The model is loaded once
per process (CPU, :func:`chgnet_model`); input energies are cached per input text. In a
fresh reward worker the first call pays torch + chgnet import (seconds): call
:func:`warm_up` there first, or give the reward a generous first timeout.

Top-1 (:func:`top1`): the answer is a valid structure that matches the reference.

Valid answer (:func:`valid_answer`): the answer parses as a structure with atoms (compact
format or CIF), whatever its geometry or composition; no CHGNet is needed, and there is
no chance top-1 (answers are open-ended).

Example columns: ``structure`` (the perturbed input, compact text) and ``answer`` (the
reference relaxed structure, compact text).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from mist_pl.chem.crystal_compact import try_from_compact
from mist_pl.runtime.protocol import check_columns, example_at
from mist_pl.tasks.answer import answer_instructions, cif_text, format_reward, parse_completion
from mist_pl.tasks.examples import Examples, origin
from mist_pl.tasks.material_checks import distances_physical, parse_structure
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.sources.fixture_examples import mist_demo_files
from mist_pl.tasks.splits import material_key

log = logging.getLogger(__name__)

NAME = "crystal_relax"

INVALID = -1.0
WRONG_COMPOSITION = -0.75
ENERGY_WEIGHT = 0.5
MATCH_BONUS = 0.5
ENERGY_SCALE_EV = 0.05  # eV/atom: an answer 50 meV/atom below the input earns the full energy term
ENERGY_TOL_EV = 0.002  # eV/atom: smaller differences count as zero (below CHGNet's resolution)

MAX_ATOMS = 100  # per cell (answer and input); bounds CHGNet's graph and StructureMatcher
MIN_VOLUME_PER_ATOM_A3 = 3.0  # denser cells are unphysical and blow up CHGNet's neighbour lists
MAX_ANSWER_CHARS = 20_000
MAX_COMPACT_LINE_CHARS = 200  # short lines keep crystal_compact's regular expressions linear-ish
MAX_COMPACT_TOKEN_CHARS = 32

# Same structure, no volume rescaling: 0.5 % lattice lengths, 0.5 degree angles,
# site displacement 0.05 (in units of (V/n)^(1/3)).
MATCH_TOLERANCES = {"ltol": 0.005, "stol": 0.05, "angle_tol": 0.5}

CHGNET_MODEL = "0.3.0"
CHGNET_DEVICE = "cpu"
CHGNET_BATCH = 16
# Intra-op threads while CHGNet runs (restored after): its graphs are small, and more
# threads only fight the trainer and the other reward workers for cores (measured on
# 2 shared cores: 0.02-0.2 s per 8-atom cell with 1 thread, 0.5-7 s with 2).
CHGNET_THREADS = 1
INSTALL_HINT = "crystal_relax needs CHGNet: pip install 'mist-pl[materials]' (or pip install chgnet)"


# ----------------------------------------------------------------------------- CHGNet


_model: Any = None
_model_error: str | None = None
_model_lock = threading.Lock()
_warned_missing = False


class CHGNetUnavailable(ImportError):
    """CHGNet (the ``materials`` extra) is not installed or its model cannot load."""


def chgnet_model() -> Any:
    """The CHGNet model, loaded once per process from the weights inside the package.

    Raises :class:`CHGNetUnavailable` (with the install hint) when it cannot be loaded.
    """
    global _model, _model_error
    with _model_lock:
        if _model is not None:
            return _model
        if _model_error is not None:
            raise CHGNetUnavailable(_model_error)
        try:
            from chgnet.model import CHGNet  # lazy: pulls in torch
        except ImportError as error:
            _model_error = f"{INSTALL_HINT} ({error})"
            raise CHGNetUnavailable(_model_error) from error
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")  # load() prints its parameter count even when not verbose
                _model = CHGNet.load(model_name=CHGNET_MODEL, use_device=CHGNET_DEVICE, verbose=False)
        except Exception as error:  # noqa: BLE001 - a broken install reads the same to the caller
            _model_error = f"CHGNet {CHGNET_MODEL} failed to load: {type(error).__name__}: {error}"
            raise CHGNetUnavailable(_model_error) from error
        return _model


def chgnet_available() -> bool:
    try:
        chgnet_model()
        return True
    except CHGNetUnavailable:
        return False


def warm_up() -> bool:
    """Import torch/chgnet and load the model now (e.g. in a fresh reward worker)."""
    return chgnet_available()


def _warn_missing(reason: str) -> None:
    global _warned_missing
    if not _warned_missing:
        _warned_missing = True
        log.warning("crystal_relax rewards are None: %s", reason)


def energies_per_atom(structures: Sequence[Any]) -> list[float | None]:
    """CHGNet energy (eV/atom) of each structure; None where CHGNet fails or gives a
    non-finite value. Raises :class:`CHGNetUnavailable` when CHGNet is missing."""
    model = chgnet_model()
    if not structures:
        return []
    import torch  # already imported by chgnet

    threads = torch.get_num_threads()
    torch.set_num_threads(CHGNET_THREADS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                predictions = model.predict_structure(list(structures), task="e", batch_size=CHGNET_BATCH)
                values = [float(p["e"]) for p in predictions]
            except Exception:  # noqa: BLE001 - one bad graph fails the batch: retry one by one
                values = [_one_energy(model, structure) for structure in structures]
    finally:
        torch.set_num_threads(threads)
    return [v if math.isfinite(v) else None for v in values]


def _one_energy(model: Any, structure: Any) -> float:
    try:
        return float(model.predict_structure(structure, task="e")["e"])
    except Exception:  # noqa: BLE001
        return math.nan


@lru_cache(maxsize=4096)
def _input_energy(text: str) -> float | None:
    structure = _input_structure(text)
    if structure is None:
        return None
    return energies_per_atom([structure])[0]


# ------------------------------------------------------------------------ structures


def _compact_structure(text: str) -> Any | None:
    """A structure from compact text after cheap, linear screening of the untrusted text."""
    lines = text.splitlines()
    if len(lines) > MAX_ATOMS + 8:
        return None
    for line in lines:
        if len(line) > MAX_COMPACT_LINE_CHARS:
            return None
        if any(len(token) > MAX_COMPACT_TOKEN_CHARS for token in line.split()):
            return None
    try:
        return try_from_compact(text)
    except Exception:  # noqa: BLE001 - anything pymatgen lets through
        return None


def structure_of(answer: str | None) -> Any | None:
    """The structure an answer gives (compact format or CIF), or None. Never raises."""
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        return None
    text = answer.strip()
    try:
        if text.startswith("serialized_cif"):
            return _compact_structure(text)
        cif = cif_text(text)
        return parse_structure(cif) if cif is not None else None
    except Exception:  # noqa: BLE001
        return None


def valid_structure(structure: Any) -> bool:
    """Small enough for the reward, not too dense, no atoms closer than 0.5 A."""
    try:
        n = len(structure)
        if not 0 < n <= MAX_ATOMS or not structure.is_ordered:
            return False
        if not structure.lattice.volume / n >= MIN_VOLUME_PER_ATOM_A3:
            return False
        return distances_physical(structure)
    except Exception:  # noqa: BLE001
        return False


@lru_cache(maxsize=4096)
def _input_structure(text: str) -> Any | None:
    structure = _compact_structure(text) if isinstance(text, str) else None
    return structure if structure is not None and valid_structure(structure) else None


@lru_cache(maxsize=4096)
def _reference_structure(text: str) -> Any | None:
    return _input_structure(text)


def same_composition(a: Any, b: Any) -> bool:
    try:
        return a.composition.reduced_composition.almost_equals(b.composition.reduced_composition)
    except Exception:  # noqa: BLE001
        return False


def matches(answer: Any, reference: Any) -> bool:
    """StructureMatcher (tight, no volume scaling) says ``answer`` is ``reference``."""
    try:
        from pymatgen.analysis.structure_matcher import StructureMatcher

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matcher = StructureMatcher(scale=False, attempt_supercell=False, **MATCH_TOLERANCES)
            return bool(matcher.fit(answer, reference))
    except Exception:  # noqa: BLE001
        return False


def energy_term(e_in: float, e_out: float) -> float:
    """clip((E_in - E_out) / scale, -1, 1) after the :data:`ENERGY_TOL_EV` dead zone."""
    delta = e_in - e_out
    delta = math.copysign(max(abs(delta) - ENERGY_TOL_EV, 0.0), delta)
    return max(-1.0, min(1.0, delta / ENERGY_SCALE_EV))


# ------------------------------------------------------------------------- rewards


def _prepare(completion: Any, example: Mapping[str, Any]) -> tuple[str, Any]:
    """("done", score) or ("energy", (answer structure, input text, reference text))."""
    other = example.get("task")
    if isinstance(other, str) and other != NAME:
        return "done", None
    text = example.get("structure")
    if not isinstance(text, str):
        return "done", None
    source = _input_structure(text)
    if source is None:
        return "done", None
    structure = structure_of(parse_completion(completion).answer)
    if structure is None or not valid_structure(structure):
        return "done", INVALID
    if not same_composition(structure, source):
        return "done", WRONG_COMPOSITION
    return "energy", (structure, text, example.get("answer"))


def crystal_relax_reward(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """Batch reward (protocol of :mod:`mist_pl.runtime.protocol`); see the module docstring."""
    check_columns(columns, len(completions), "crystal_relax_reward")
    results: list[float | None] = [None] * len(completions)
    pending: list[tuple[int, Any, str, Any]] = []
    for i, completion in enumerate(completions):
        try:
            kind, value = _prepare(completion, example_at(columns, i))
        except Exception as error:  # noqa: BLE001 - never raise on model output
            log.debug("crystal_relax: completion %d not scored: %s", i, error)
            continue
        if kind == "done":
            results[i] = value
        else:
            pending.append((i, *value))
    if not pending:
        return results
    try:
        energies = energies_per_atom([structure for _, structure, _, _ in pending])
        inputs = {text: _input_energy(text) for _, _, text, _ in pending}
    except CHGNetUnavailable as error:
        _warn_missing(str(error))
        return [None] * len(results)  # score all or nothing: a partial batch would bias the group
    for (i, structure, text, reference_text), e_out in zip(pending, energies):
        e_in = inputs.get(text)
        if e_in is None:
            continue  # the input itself cannot be evaluated: no reward
        if e_out is None:
            results[i] = INVALID
            continue
        reference = _reference_structure(reference_text) if isinstance(reference_text, str) else None
        bonus = MATCH_BONUS if reference is not None and matches(structure, reference) else 0.0
        results[i] = ENERGY_WEIGHT * energy_term(e_in, e_out) + bonus
    return results


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    """Success: a valid answer with the input's composition that matches the reference."""
    try:
        text, reference_text = example.get("structure"), example.get("answer")
        if not isinstance(text, str) or not isinstance(reference_text, str):
            return False
        source, reference = _input_structure(text), _reference_structure(reference_text)
        structure = structure_of(parse_completion(completion).answer)
        if source is None or reference is None or structure is None or not valid_structure(structure):
            return False
        return same_composition(structure, source) and matches(structure, reference)
    except Exception:  # noqa: BLE001
        return False


def valid_answer(completion: Any, example: Mapping[str, Any]) -> bool:
    """Whether the answer parses as a structure with atoms (compact format or CIF), right
    or wrong: too-close atoms, a too-dense cell or another composition still count (the
    reward scores those). The example is not consulted; never raises."""
    try:
        structure = structure_of(parse_completion(completion).answer)
        return structure is not None and len(structure) > 0
    except Exception:  # noqa: BLE001 - anything pymatgen lets through
        return False


# ------------------------------------------------------------------ prompt, examples


def build_prompt(example: Mapping[str, Any]) -> str:
    return (
        "The crystal structure below is perturbed away from equilibrium. Relax it: give the "
        "equilibrium (lowest-energy) structure with the same composition.\n"
        f"{example['structure'].strip()}\n"
        "Answer in the same format (formula line, space_group_symbol, lattice_parameters, then "
        "one line per symmetry orbit: element, multiplicity_int, fractional x y z), or as a CIF.\n"
        + answer_instructions("the relaxed structure", "relaxed structure in the format above")
    )


def _records(path: Path) -> list[tuple[int, str]]:
    """(first line number, text) of each blank-line separated record."""
    records, start, lines = [], 1, []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines() + [""], start=1):
        if line.strip():
            if not lines:
                start = number
            lines.append(line.strip())
        elif lines:
            records.append((start, "\n".join(lines)))
            lines = []
    return records


def target_path(path: Path | str) -> Path:
    """The relaxed-structure file paired with a perturbed one (``src-X`` -> ``tgt-X``)."""
    path = Path(path)
    if not path.name.startswith("src-"):
        raise ValueError(f"{path}: expected a src-*.txt file of perturbed structures (paired with tgt-*.txt)")
    return path.with_name("tgt-" + path.name[len("src-") :])


def load_examples(path: Path | str) -> list[dict]:
    """Pairs (perturbed ``structure``, relaxed ``answer``) from ``src-*.txt`` and its
    ``tgt-*.txt`` sibling (``crystalrelax_tiny`` layout, records separated by blank
    lines, paired in order). ``origin`` is the src file and line of the record."""
    path = Path(path)
    target = target_path(path)
    if not target.is_file():
        raise ValueError(f"{path}: no paired relaxed-structure file {target}")
    sources, targets = _records(path), _records(target)
    if len(sources) != len(targets):
        raise ValueError(f"{path} has {len(sources)} records but {target} has {len(targets)}: cannot pair them")
    examples = Examples()
    for index, ((line, source), (target_line, relaxed)) in enumerate(zip(sources, targets)):
        where = origin(path, line)
        before, after = _input_structure(source), _input_structure(relaxed)
        if before is None or after is None:
            examples.skip(where, "unreadable or invalid structure (src or tgt), or more than MAX_ATOMS atoms")
        elif not same_composition(before, after):
            examples.skip(where, "src and tgt compositions differ")
        else:
            examples.append({
                "structure": source,
                "answer": relaxed,
                "formula": before.composition.reduced_formula,
                "origin": where,
                "target_origin": origin(target, target_line),
                "record": index,
            })
    return examples.report(f"crystal_relax {path}")


def split_key(example: Mapping[str, Any]) -> str | None:
    """The structure's reduced formula (the answer is a structure text; its formula is a column)."""
    return material_key(example.get("formula", ""))


def dedupe_key(example: Mapping[str, Any]) -> str | None:
    """The input and the relaxed structure, whitespace normalized."""
    source, relaxed = example.get("structure"), example.get("answer")
    if not isinstance(source, str) or not isinstance(relaxed, str):
        return None
    return " ".join(source.split()) + "|" + " ".join(relaxed.split())


TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(crystal_relax_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="perturbed crystal (compact format) -> relaxed crystal (compact or CIF); CHGNet energy + match",
        valid=valid_answer,
        metadata={"optional": True, "requires": "chgnet", "extra": "materials"},
        # The perturbed input, unrelaxed: right whenever the perturbation is within the
        # match tolerances.
        baselines={"copy_request": lambda examples: [e.get("structure") for e in examples]},
        split_key=split_key,
        dedupe_key=dedupe_key,
        # No SFT trace builder (relaxation is no reasoning a trace can compute) and no raw
        # source: build it from the mist-demo fixtures or a --source file.
        fixture_examples=mist_demo_files(load_examples, "crystalrelax_tiny/src-train.txt", "crystalrelax_tiny/src-test.txt"),
    )
)
