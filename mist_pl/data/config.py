"""The data mixture as written in ``conf/data/*.yaml``: named sources, their weights, transforms.

A mixture file looks like::

    name: chem_mix_tiny
    seed: 1234
    tokenizer: mist-chem                 # used by `python -m mist_pl.data.prepare`
    output_dir: data/prepared/chem_mix_tiny
    sources:
      - name: nci_molecules
        corpus: rdkit_nci                # a built-in corpus (mist_pl/data/corpora.py) ...
        weight: 0.3
      - name: my_papers
        format: jsonl                    # ... or files: csv, tsv, jsonl, txt, parquet, hf, cif_dir
        path: data/raw/papers.jsonl
        transform: {kind: text, template: "{title}\\n\\n{body}", tag_smiles: true}
        weight: 0.7

Every source has either a ``weight`` (share of training tokens) or a ``tokens`` budget
(training tokens per mixture epoch); a file mixes one kind or the other. Validation runs
when the file is loaded, so a weight that does not parse or a file that does not exist
fails before any record is read, with a message naming the YAML file and the field.
Relative paths are resolved against the working directory (the repository root when
you run the README commands).
"""

from __future__ import annotations

import difflib
import glob
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import Any, Optional, Union

from mist_pl.data.corpora import corpus_unavailable_reason, get_corpus
from mist_pl.data.errors import DataConfigError
from mist_pl.data.readers import option_problem, reader_options
from mist_pl.data.transforms import build_transform
from mist_pl.shipped import resolve_config

FILE_FORMATS = ("csv", "tsv", "jsonl", "txt", "parquet", "hf", "cif_dir")
# A source's name is a folder under the output directory (``<output_dir>/<name>/shard-*``):
# only plain names, so that no name (``..``, ``a/b``, ``/abs``) can put shards elsewhere.
SOURCE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
NOT_NAMES = (".", "..")


@dataclass
class SourceSpec:
    """One named source of the mixture.

    Args:
        name: unique plain name (letters, digits, ``_``, ``-``, ``.``); used in logs, the
            manifest and ``source_ids``, and as the folder of the source's shards.
        corpus: a built-in offline corpus from :mod:`mist_pl.data.corpora`; it supplies
            the files, the reader options and a default transform.
        format: reader for ``path`` (``csv``, ``tsv``, ``jsonl``, ``txt``, ``parquet``,
            ``hf`` or ``cif_dir``); ignored with ``corpus``.
        path: a file, a folder (``hf``, ``cif_dir``), a glob, or a list of those.
        weight: share of the mixture's training tokens (normalized over sources).
        tokens: alternatively, training tokens per mixture epoch for this source; a source
            smaller than its budget is repeated, a larger one is subsampled.
        transform: how a record becomes a document, ``{kind: ..., **options}``; see
            :mod:`mist_pl.data.transforms`. Defaults to the corpus' transform, or
            ``{kind: text, column: text}``.
        options: reader options (``delimiter``, ``header``, ``columns``, ``mode``, ``split``...);
            checked by name against the reader of ``format`` or the corpus when the
            mixture is loaded.
        max_records: read at most this many records (in file order).
        optional: when a corpus or file is unavailable, drop the source with a warning
            instead of failing (its weight is shared among the rest).
    """

    name: str
    corpus: Optional[str] = None
    format: Optional[str] = None
    path: Union[str, list[str], None] = None
    weight: Optional[float] = None
    tokens: Optional[int] = None
    transform: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    max_records: Optional[int] = None
    optional: bool = False

    def paths(self) -> list[str]:
        """The resolved files or folders of this source (after validation: absolute, existing)."""
        if self.path is None:
            return []
        return [self.path] if isinstance(self.path, str) else list(self.path)


@dataclass
class MixtureConfig:
    """A validated data mixture; build it with :func:`load_mixture`.

    Args:
        sources: the named sources.
        name: name of the mixture (manifest, logs).
        seed: seeds every random choice of the data pipeline (record transforms, the
            mixing schedule, document order); the same seed gives the same batches.
        tokenizer: tokenizer ``prepare`` uses (built-in name or local folder). In training
            the data module uses its own ``tokenizer`` argument when set, else the model's
            tokenizer (a warning names a mismatch), so shards prepared for another model
            are refused by the manifest check.
        output_dir: where ``prepare`` writes shards and ``manifest.json``.
        tokens_per_epoch: length of one mixture epoch in training tokens when sources have
            weights; by default the number of tokens of all sources together.
        shard_records: records per shard written by ``prepare``.
        origin: the file the mixture came from; used in error messages.
        positions: set by validation: each source's index in the file (for error messages).
    """

    sources: list[SourceSpec]
    name: str = "mixture"
    seed: int = 0
    tokenizer: Optional[str] = None
    output_dir: Optional[str] = None
    tokens_per_epoch: Optional[int] = None
    shard_records: int = 5000
    origin: str = "<inline mixture>"
    positions: dict[str, int] = field(default_factory=dict, repr=False)  # source -> index in the file

    @property
    def uses_budgets(self) -> bool:
        return self.sources[0].tokens is not None

    def source_field(self, index: int, name: str) -> str:
        """``conf/data/x.yaml: sources[2] ('nci').weight``: how errors point at a field of source ``index``."""
        source = self.sources[index].name
        return f"{self.origin}: sources[{self.positions.get(source, index)}] ({source!r}).{name}"


def load_mixture(mixture: Union[str, os.PathLike, MixtureConfig, dict]) -> MixtureConfig:
    """Read and validate a mixture from a YAML path, a dict or a :class:`MixtureConfig`.

    A path that is not a file here but names a shipped config (``conf/data/chem_mix_tiny.yaml``)
    reads the copy inside the package (:func:`mist_pl.shipped.resolve_config`)."""
    if isinstance(mixture, MixtureConfig):
        return validate_mixture(mixture)
    if isinstance(mixture, dict):
        return validate_mixture(_from_dict(mixture, "<inline mixture>"))
    try:  # a relative path missing here may name a shipped config (mist_pl.shipped)
        path = resolve_config(mixture, "mixture")
    except FileNotFoundError as error:
        raise DataConfigError(f"mixture file not found: {error}") from None
    from omegaconf import OmegaConf  # YAML with ${oc.env:...} interpolation

    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(raw, dict):
        raise DataConfigError(f"{path}: expected a mapping with a 'sources' list at the top level")
    return validate_mixture(_from_dict(raw, str(path)))


def _from_dict(raw: dict, origin: str) -> MixtureConfig:
    known = {f.name for f in fields(MixtureConfig)} - {"origin", "sources", "positions"}
    unknown = set(raw) - known - {"sources"}
    if unknown:
        raise DataConfigError(f"{origin}: unknown top-level field(s) {sorted(unknown)}; known: {sorted(known)}")
    sources = raw.get("sources")
    if not isinstance(sources, list) or not sources:
        raise DataConfigError(f"{origin}: sources: expected a non-empty list of sources")
    source_fields = {f.name for f in fields(SourceSpec)}
    specs = []
    for i, item in enumerate(sources):
        if not isinstance(item, dict):
            raise DataConfigError(f"{origin}: sources[{i}]: expected a mapping, got {item!r}")
        bad = set(item) - source_fields
        if bad:
            raise DataConfigError(
                f"{origin}: sources[{i}]: unknown field(s) {sorted(bad)}; known: {sorted(source_fields)}"
            )
        if "name" not in item:
            raise DataConfigError(f"{origin}: sources[{i}].name: missing")
        specs.append(SourceSpec(**item))
    top = {k: v for k, v in raw.items() if k != "sources"}
    return MixtureConfig(sources=specs, origin=origin, **top)


def validate_mixture(cfg: MixtureConfig) -> MixtureConfig:
    """Check every field and resolve paths; returns a new config without unavailable optional sources."""
    origin = cfg.origin
    cfg = replace(cfg, seed=_as_int(cfg.seed, f"{origin}: seed"), sources=list(cfg.sources))
    cfg.shard_records = _as_int(cfg.shard_records, f"{origin}: shard_records", minimum=1)
    if cfg.tokens_per_epoch is not None:
        cfg.tokens_per_epoch = _as_int(cfg.tokens_per_epoch, f"{origin}: tokens_per_epoch", minimum=1)
    kept: list[SourceSpec] = []
    positions: dict[str, int] = {}
    for i, spec in enumerate(cfg.sources):
        where = f"{origin}: sources[{i}] ({spec.name!r})"
        if not isinstance(spec.name, str) or not SOURCE_NAME.fullmatch(spec.name) or spec.name in NOT_NAMES:
            raise DataConfigError(f"{where}.name: {spec.name!r} is not a plain name (letters, digits, '_', '-' "
                                  "and '.', not '.' or '..'); it names the source's folder of shards")
        if spec.name in positions:
            raise DataConfigError(f"{where}.name: duplicate source name")
        positions[spec.name] = i
        spec = _validate_source(spec, where)
        if spec is not None:
            kept.append(spec)
    if not kept:
        raise DataConfigError(f"{origin}: sources: no source is available")
    if len({s.tokens is None for s in kept}) > 1:
        raise DataConfigError(f"{origin}: sources: use 'weight' for every source or 'tokens' for every source, not both")
    weights = [s.weight for s in kept if s.weight is not None]
    if not math.isfinite(sum(weights)):  # every share is weight / sum
        raise DataConfigError(
            f"{origin}: sources[].weight: the weights sum to more than the largest number ({sys.float_info.max:.3g}): "
            f"{weights}; they are relative shares, so scale them down (e.g. 1 and 1 for 1e308 and 1e308)"
        )
    cfg.sources = kept
    cfg.positions = positions
    return cfg


def _validate_source(spec: SourceSpec, where: str) -> Optional[SourceSpec]:
    """The checked source with defaults filled in, or None for an unavailable optional source."""
    for name in ("transform", "options"):
        if getattr(spec, name) is not None and not isinstance(getattr(spec, name), dict):
            raise DataConfigError(f"{where}.{name}: expected a mapping, got {getattr(spec, name)!r}")
    spec = replace(spec, transform=dict(spec.transform or {}), options=dict(spec.options or {}))
    if spec.weight is not None:
        spec.weight = _as_float(spec.weight, f"{where}.weight")
    if spec.tokens is not None:
        spec.tokens = _as_int(spec.tokens, f"{where}.tokens", minimum=1)
    if (spec.weight is None) == (spec.tokens is None):
        raise DataConfigError(f"{where}: give exactly one of 'weight' or 'tokens'")
    if spec.max_records is not None:
        spec.max_records = _as_int(spec.max_records, f"{where}.max_records", minimum=1)
    try:
        if spec.corpus is not None:
            if spec.path is not None or spec.format is not None:
                raise DataConfigError(f"{where}: give either 'corpus' or 'format' + 'path', not both")
            try:
                corpus = get_corpus(spec.corpus)
            except KeyError as err:
                raise DataConfigError(f"{where}.corpus: {err.args[0]}") from None
            _check_options(spec.options, corpus.options, f"corpus {spec.corpus!r}", where)
            try:
                missing = corpus_unavailable_reason(corpus, spec.options)
            except ValueError as err:
                raise DataConfigError(f"{where}.options: {err}") from None
            if missing:
                raise _Unavailable(f"{where}.corpus: {missing}")
            default_transform = corpus.transform
        else:
            if spec.format not in FILE_FORMATS:
                raise DataConfigError(f"{where}.format: {spec.format!r} is not one of {FILE_FORMATS} (or set 'corpus')")
            _check_options(spec.options, reader_options(spec.format), f"format {spec.format!r}", where)
            _check_option_values(spec.options, f"format {spec.format!r}", where)
            spec.path = _resolve_paths(spec, where)
            default_transform = {"kind": "text", "column": "text"}
    except _Unavailable as err:
        if not spec.optional:
            raise DataConfigError(str(err)) from None
        warnings.warn(f"optional source dropped: {err}", stacklevel=3)
        return None
    spec.transform = spec.transform or dict(default_transform)
    build_transform(spec.transform, f"{where}.transform")  # checks the kind and its options by name
    return spec


def _check_options(options: dict, allowed: tuple[str, ...], reader: str, where: str) -> None:
    """Every option name must be one the reader or corpus takes: a misspelled one would be
    a ``TypeError`` deep in the reader (naming neither source nor file) or, for a corpus,
    silently ignored. Names the option, the reader and the allowed names."""
    unknown = [name for name in options if name not in allowed]
    if not unknown:
        return
    names = ", ".join(repr(name) for name in unknown)
    message = (f"{where}.options: unknown option{'s' if len(unknown) > 1 else ''} {names} for {reader}; "
               f"allowed: {', '.join(sorted(allowed)) or 'none'}")
    close = difflib.get_close_matches(str(unknown[0]), allowed, n=1)
    raise DataConfigError(message + (f" (did you mean {close[0]!r}?)" if close else ""))


def _check_option_values(options: dict, reader: str, where: str) -> None:
    """Every option value must be one the reader can use: a bad one (``encoding: latin-99``,
    ``delimiter: ''``) would be a bare ``LookupError`` or ``TypeError`` mid-read."""
    for name, value in options.items():
        problem = option_problem(name, value)
        if problem is not None:
            raise DataConfigError(f"{where}.options.{name}: {value!r} is not usable for {reader}: {problem}")


class _Unavailable(DataConfigError):
    """A corpus or file that is not there; fatal unless the source is optional."""


def _resolve_paths(spec: SourceSpec, where: str) -> list[str]:
    if spec.path is None:
        raise DataConfigError(f"{where}.path: missing (a file source needs 'path')")
    patterns = [spec.path] if isinstance(spec.path, str) else spec.path
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise DataConfigError(f"{where}.path: expected a path or a list of paths, got {spec.path!r}")
    resolved: list[str] = []
    for pattern in patterns:
        expanded = os.path.expanduser(os.path.expandvars(pattern))
        if glob.has_magic(expanded):
            matches = sorted(glob.glob(expanded))
            if not matches:
                raise _Unavailable(f"{where}.path: no file matches {pattern!r} (from {os.getcwd()})")
            resolved.extend(os.path.abspath(m) for m in matches)
            continue
        full = os.path.abspath(expanded)
        if not os.path.exists(full):
            raise _Unavailable(f"{where}.path: file not found: {full}")
        if spec.format in ("cif_dir",) and not os.path.isdir(full):
            raise DataConfigError(f"{where}.path: {full} is not a folder (format {spec.format!r})")
        resolved.append(full)
    return resolved


def _as_float(value: Any, where: str) -> float:
    # YAML 1.1 reads `1e-3` as a string, so numeric strings are accepted.
    if isinstance(value, bool):
        raise DataConfigError(f"{where}: {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataConfigError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise DataConfigError(f"{where}: must be a finite number > 0, got {value!r}")
    return number


def _as_int(value: Any, where: str, minimum: int | None = None) -> int:
    # Accept 5000, "5000", 5e3 and "5e3", but not 2.5 or True.
    number = None if isinstance(value, bool) else _as_number(value)
    if number is None or not float(number).is_integer():
        raise DataConfigError(f"{where}: {value!r} is not an integer")
    if minimum is not None and number < minimum:
        raise DataConfigError(f"{where}: must be >= {minimum}, got {value!r}")
    return int(number)


def _as_number(value: Any) -> float | int | None:
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
