"""Record -> document, one transform per source (``SourceSpec.transform``).

A transform is a small callable ``transform(fields, seed) -> str`` (a CPT document) or
``-> ChatExample`` (an SFT example, kind ``chat``). It raises
:class:`DropRecord` with a reason (``invalid_smiles``, ``missing_field:SMILES`` ...) when
the record cannot become a document; :func:`apply_transform` turns that into
``(None, reason)`` so callers count drops per reason instead of crashing. ``seed`` is
derived from the mixture seed, the source and the record's position, so randomized
SMILES and sampled descriptions are the same on every run and in every worker.

Kinds (``transform: {kind: ..., **options}``), chemistry delegated to :mod:`mist_pl.chem`:

- ``text``: ``column`` (the text as is) or ``template`` (``"{IUPAC} is {SMILES}"``);
  ``tag_smiles: true`` wraps SMILES spans in ``[START_SMILES]..[END_SMILES]``.
- ``molecule``: a SMILES ``column`` -> a short factual paragraph about the molecule
  (``chem.describe.describe_molecule``); ``describe: false`` gives the tagged SMILES only.
  The SMILES is written canonical (with ``describe: false``, ``canonical: false`` keeps
  the source's spelling), or with probability ``randomize: p`` as a randomized spelling
  (augmentation).
- ``name_structure``: ``name_column`` + ``smiles_column`` -> name/structure interleaving.
- ``reaction``: reaction SMILES ``column`` -> ``chem.describe.describe_reaction``.
- ``crystal``: CIF text ``column`` -> parsed, normalized and re-serialized as CIF tagged
  ``[START_CIF]..[END_CIF]`` (``style: cif``), as the compact line format of the MiST
  crystal tasks (``compact``), or either by seed (``mixed``); ``describe: true`` puts a
  paragraph (symmetry, cell, density, charge balance) before a CIF document. A CIF that
  would expand to too many sites, or whose atom rows x listed symmetry operations exceed
  the parse budget (:func:`mist_pl.chem.crystals.parse_cif`), is dropped unparsed as
  ``cif_too_large``.

- ``chat``: a (prompt, completion) pair for supervised fine-tuning. The prompt is
  ``prompt_column`` (default ``prompt``) or ``prompt_template``, the completion
  ``completion_column`` (default ``completion``) or ``completion_template``; ``system``
  is an optional system prompt. The tokenizer's chat template renders it later
  (:func:`mist_pl.data.tokenization.encode_chat`), and only the completion (with its closing
  end-of-turn) is trained. ``overlong: truncate`` (default) cuts the completion of an
  example longer than ``seq_len``, ``drop`` drops it; that happens when rows are
  planned (:mod:`mist_pl.data.overlong`), since shards do not depend on ``seq_len``.

Every kind accepts ``where: {field: value, ...}``: records whose fields differ are
dropped as ``filtered`` (e.g. keep only ``label: "true"`` reactions).
"""

from __future__ import annotations

import hashlib
import random
import warnings
from dataclasses import dataclass, fields
from typing import Any, Callable, Optional, Union

from mist_pl.data.errors import DataConfigError


@dataclass(frozen=True)
class ChatExample:
    """One SFT example as text; tokenized with the tokenizer's chat template."""

    prompt: str
    completion: str
    system: Optional[str] = None


Document = Union[str, ChatExample]
Transform = Callable[[dict, int], Document]


class DropRecord(Exception):
    """Raised by a transform for a record that cannot become a document."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def apply_transform(transform: Transform, fields: dict, seed: int) -> tuple[Optional[Document], Optional[str], str]:
    """``(document, None, "")`` for a document, ``(None, reason, detail)`` for a dropped record.

    Unexpected exceptions from chemistry code are also counted (``error:<Type>``) rather
    than raised: model-scale corpora always contain records that crash some parser, and
    the manifest's example for the reason points at the line to look at.
    """
    try:
        document = transform(fields, seed)
    except DropRecord as drop:
        return None, drop.reason, drop.detail
    except Exception as err:  # noqa: BLE001 - counted and reported, see docstring
        return None, f"error:{type(err).__name__}", str(err)[:200]
    if not document or (isinstance(document, str) and not document.strip()):
        return None, "empty_document", ""
    return document, None, ""


def record_seed(seed: int, source: str, index: int) -> int:
    """A 63-bit seed for record ``index`` of ``source``; stable across processes and Python versions."""
    digest = hashlib.blake2b(f"{seed}/{source}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _field(fields: dict, name: str) -> str:
    if name not in fields:
        raise DropRecord(f"missing_field:{name}")
    value = fields[name]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DropRecord(f"empty_field:{name}")
    return str(value).strip()


def _column_or_template(fields: dict, column: Optional[str], template: Optional[str]) -> str:
    if column is not None:
        return _field(fields, column)
    try:
        return template.format_map(fields)
    except KeyError as err:
        raise DropRecord(f"missing_field:{err.args[0]}") from None


@dataclass
class TextDocument:
    column: Optional[str] = None
    template: Optional[str] = None
    tag_smiles: bool = False

    def __post_init__(self) -> None:
        if (self.column is None) == (self.template is None):
            raise ValueError("give exactly one of 'column' or 'template'")

    def __call__(self, fields: dict, seed: int) -> str:
        text = _column_or_template(fields, self.column, self.template)
        if self.tag_smiles:
            # Inside: RDKit / pymatgen load only when a source uses this transform.
            from mist_pl.chem.spans import tag_smiles_spans

            text = tag_smiles_spans(text).text
        return text


@dataclass
class MoleculeDocument:
    column: str = "smiles"
    randomize: float = 0.0
    canonical: bool = True
    describe: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.randomize) <= 1.0:
            raise ValueError(f"randomize={self.randomize!r} must be a probability in [0, 1]")

    def __call__(self, fields: dict, seed: int) -> str:
        # Inside: RDKit / pymatgen load only when a source uses this transform.
        from mist_pl.chem import smiles as chem_smiles
        from mist_pl.chem.tags import wrap_smiles

        smiles = _field(fields, self.column)
        rng = random.Random(seed)
        randomized = bool(self.randomize) and rng.random() < self.randomize
        if self.describe:
            # Inside: RDKit / pymatgen load only when a source uses this transform.
            from mist_pl.chem.describe import describe_molecule

            text = describe_molecule(smiles, seed=rng.randrange(1, 2**31), randomize_smiles=randomized)
            if text is None:
                raise DropRecord("invalid_smiles", smiles[:80])
            return text
        canonical = chem_smiles.canonicalize(smiles)
        if canonical is None:
            raise DropRecord("invalid_smiles", smiles[:80])
        written = canonical if self.canonical else smiles
        if randomized:  # a molecule with a single spelling (methane) keeps it
            written = next(iter(chem_smiles.randomize(canonical, 1, seed=rng.randrange(1, 2**31))), written)
        return wrap_smiles(written)


@dataclass
class NameStructureDocument:
    name_column: str = "IUPAC"
    smiles_column: str = "SMILES"

    def __call__(self, fields: dict, seed: int) -> str:
        # Inside: RDKit / pymatgen load only when a source uses this transform.
        from mist_pl.chem.names import interleave

        name = _field(fields, self.name_column)
        smiles = _field(fields, self.smiles_column)
        text = interleave(name, smiles)
        if text is None:
            raise DropRecord("invalid_smiles", smiles[:80])
        return text


@dataclass
class ReactionDocument:
    column: str = "reaction"

    def __call__(self, fields: dict, seed: int) -> str:
        # Inside: RDKit / pymatgen load only when a source uses this transform.
        from mist_pl.chem.describe import describe_reaction

        reaction = _field(fields, self.column)
        text = describe_reaction(reaction, seed=seed)
        if text is None:
            raise DropRecord("invalid_reaction", reaction[:80])
        return text


@dataclass
class CrystalDocument:
    column: str = "cif"
    style: str = "cif"
    describe: bool = False

    def __post_init__(self) -> None:
        if self.style not in ("cif", "compact", "mixed"):
            raise ValueError(f"style={self.style!r} must be 'cif', 'compact' or 'mixed' (either, by seed)")

    def __call__(self, fields: dict, seed: int) -> str:
        # Inside: RDKit / pymatgen load only when a source uses this transform.
        from mist_pl.chem import crystals

        text = _field(fields, self.column)
        rng = random.Random(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen remarks on every odd CIF; drops are counted instead
            try:
                structure = crystals.normalize(crystals.parse_cif(text))
            except crystals.CifTooLarge as err:  # refused unparsed: the cost is bounded
                raise DropRecord("cif_too_large", str(err)[:200]) from None
            except Exception as err:  # noqa: BLE001 - CrystalError, or anything pymatgen raises
                raise DropRecord("invalid_cif", f"{type(err).__name__}: {err}"[:200]) from None
            style = self.style if self.style != "mixed" else rng.choice(("cif", "compact"))
            if style == "compact":
                return crystals.to_compact(structure)
            if self.describe:
                # Inside: RDKit / pymatgen load only when a source uses this transform.
                from mist_pl.chem.describe import describe_structure

                return describe_structure(structure, seed=rng.randrange(2**31))  # ends in the tagged CIF
            return crystals.tag_cif(crystals.to_cif(structure))


OVERLONG_POLICIES = ("truncate", "drop")


@dataclass
class ChatDocument:
    """(prompt, completion) -> :class:`ChatExample`; see the module docstring for the options."""

    prompt_column: Optional[str] = None
    prompt_template: Optional[str] = None
    completion_column: Optional[str] = None
    completion_template: Optional[str] = None
    system: Optional[str] = None
    overlong: str = "truncate"

    def __post_init__(self) -> None:
        for part in ("prompt", "completion"):
            column, template = f"{part}_column", f"{part}_template"
            if getattr(self, column) is not None and getattr(self, template) is not None:
                raise ValueError(f"give at most one of '{column}' or '{template}'")
            if getattr(self, template) is None and getattr(self, column) is None:
                setattr(self, column, part)  # the field names the task suite's jsonl files use
        if self.overlong not in OVERLONG_POLICIES:
            raise ValueError(f"overlong={self.overlong!r} must be one of {OVERLONG_POLICIES}")

    def __call__(self, fields: dict, seed: int) -> ChatExample:
        prompt = _column_or_template(fields, self.prompt_column, self.prompt_template)
        completion = _column_or_template(fields, self.completion_column, self.completion_template)
        # A template can render to blanks; a blank side teaches nothing (or nothing asked).
        for name, text in (("prompt", prompt), ("completion", completion)):
            if not text.strip():
                raise DropRecord(f"empty_field:{name}")
        return ChatExample(prompt, completion, self.system or None)


def is_chat(transform: dict[str, Any]) -> bool:
    """Whether a source's ``transform`` spec yields SFT examples rather than CPT text."""
    return (transform or {}).get("kind") == "chat"


def overlong_policy(transform: dict[str, Any]) -> str:
    """What a chat source does with an example longer than a row (``truncate`` or ``drop``)."""
    return transform.get("overlong", ChatDocument.overlong)


TRANSFORMS: dict[str, type] = {
    "text": TextDocument,
    "molecule": MoleculeDocument,
    "name_structure": NameStructureDocument,
    "reaction": ReactionDocument,
    "crystal": CrystalDocument,
    "chat": ChatDocument,
}


@dataclass
class _Where:
    """Keeps records whose fields equal the given values (compared as text)."""

    conditions: dict[str, Any]
    inner: Transform

    def __call__(self, fields: dict, seed: int) -> Document:
        for name, wanted in self.conditions.items():
            if str(fields.get(name, "")).strip().lower() != str(wanted).strip().lower():
                raise DropRecord("filtered")
        return self.inner(fields, seed)


def build_transform(spec: dict[str, Any], where: str = "transform") -> Transform:
    """Build a transform from ``{kind: ..., **options}``; ``where`` names the config field in errors."""
    options = dict(spec)
    kind = options.pop("kind", None)
    conditions = options.pop("where", None)
    if kind not in TRANSFORMS:
        raise DataConfigError(f"{where}.kind: {kind!r} is not one of {sorted(TRANSFORMS)}")
    cls = TRANSFORMS[kind]
    allowed = {f.name for f in fields(cls)}
    unknown = set(options) - allowed
    if unknown:
        raise DataConfigError(f"{where}: unknown option(s) {sorted(unknown)} for kind {kind!r}; known: {sorted(allowed)}")
    try:
        transform = cls(**options)
    except (TypeError, ValueError) as err:
        raise DataConfigError(f"{where}: {err}") from None
    if conditions is not None:
        if not isinstance(conditions, dict):
            raise DataConfigError(f"{where}.where: expected a mapping field -> value, got {conditions!r}")
        transform = _Where(dict(conditions), transform)
    return transform
