"""Source -> documents -> token ids: the step shared by ``prepare`` and on-the-fly loading.

Text documents are tokenized as they are (no special tokens: the packer adds EOS
separators). Chat examples (transform kind ``chat``) go through the tokenizer's chat
template (:func:`mist_pl.data.tokenization.encode_chat`) and also get a loss mask: 1 on the
completion and its closing end-of-turn, 0 on the system and user turns.

Records are numbered by their position in the source's item stream (malformed items
included), and that number seeds the record's transform. Splitting a source into chunks
at fixed positions therefore gives the same documents whether a chunk runs in a worker
process, in the main process, or again after an interrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from mist_pl.data.config import MixtureConfig, SourceSpec
from mist_pl.data.corpora import read_source
from mist_pl.data.docstore import MemoryDocs
from mist_pl.data.errors import DataConfigError
from mist_pl.data.readers import Item, Malformed
from mist_pl.data.stats import SourceStats
from mist_pl.data.tokenization import ChatTemplateError, encode_chat
from mist_pl.data.transforms import ChatExample, Document, apply_transform, build_transform, is_chat, record_seed


def documents(
    spec: SourceSpec, seed: int, items: Iterable[tuple[int, Item]], stats: SourceStats
) -> Iterator[tuple[Document, str]]:
    """``(document, origin)`` for each record that becomes a document (text, or a
    :class:`ChatExample` for chat sources); drops are counted in ``stats``."""
    transform = build_transform(spec.transform, f"sources[{spec.name!r}].transform")
    for index, item in items:
        stats.records += 1
        if isinstance(item, Malformed):
            stats.drop(item.reason, item.origin, item.detail)
            continue
        text, reason, detail = apply_transform(transform, item.fields, record_seed(seed, spec.name, index))
        if text is None:
            stats.drop(reason, item.origin, detail)
            continue
        yield text, str(item.origin)


def tokenize(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens: documents are joined by EOS when packed."""
    if not texts:
        return []
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def tokenize_chat(tokenizer, example: ChatExample) -> tuple[list[int], np.ndarray]:
    """Token ids of a chat example and its loss mask (uint8, 1 = trained)."""
    encoded = encode_chat(tokenizer, example.prompt, example.completion, system=example.system)
    return encoded.input_ids, np.asarray(encoded.loss_mask, dtype=np.uint8)


@dataclass
class TokenizedChunk:
    """A chunk of a source after transform and tokenization.

    ``loss_masks`` is None for text sources and aligned with ``token_lists`` for chat sources."""

    token_lists: list[list[int]]
    origins: list[str]
    stats: SourceStats
    loss_masks: Optional[list[np.ndarray]] = None


def tokenize_chunk(
    spec: SourceSpec, seed: int, items: Iterable[tuple[int, Item]], tokenizer, batch: int = 512
) -> TokenizedChunk:
    """Transform and tokenize one chunk of a source."""
    stats = SourceStats()
    chat = is_chat(spec.transform)
    token_lists: list[list[int]] = []
    loss_masks: list[np.ndarray] = []
    origins: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        for ids in tokenize(tokenizer, pending):
            token_lists.append(ids)
        pending.clear()

    for document, origin in documents(spec, seed, items, stats):
        origins.append(origin)
        if chat:
            try:
                ids, mask = tokenize_chat(tokenizer, document)
            except ChatTemplateError as err:  # the tokenizer's fault, not the record's: fatal
                raise DataConfigError(f"source {spec.name!r}: {err}") from None
            token_lists.append(ids)
            loss_masks.append(mask)
            continue
        pending.append(document)
        if len(pending) >= batch:
            flush()
    flush()
    # A document can tokenize to nothing (e.g. only characters the tokenizer strips).
    keep = [i for i, ids in enumerate(token_lists) if ids]
    if len(keep) < len(token_lists):
        for i in sorted(set(range(len(token_lists))) - set(keep)):
            stats.drop("empty_after_tokenization", origins[i])
    stats.kept = len(keep)
    stats.tokens = sum(len(token_lists[i]) for i in keep)
    return TokenizedChunk(
        token_lists=[token_lists[i] for i in keep],
        origins=[origins[i] for i in keep],
        stats=stats,
        loss_masks=[loss_masks[i] for i in keep] if chat else None,
    )


def load_in_memory(spec: SourceSpec, seed: int, tokenizer) -> tuple[MemoryDocs, SourceStats]:
    """Read, transform and tokenize a whole source (tiny runs; ``prepare`` for anything larger)."""
    chunk = tokenize_chunk(spec, seed, enumerate(read_source(spec)), tokenizer)
    return MemoryDocs(chunk.token_lists, chunk.loss_masks), chunk.stats


def check_chat_template(cfg: MixtureConfig, tokenizer) -> None:
    """Fail at start-up, naming the source, when a chat source meets a tokenizer without a
    chat template (instead of in the middle of ``prepare``)."""
    for i, spec in enumerate(cfg.sources):
        if is_chat(spec.transform) and not getattr(tokenizer, "chat_template", None):
            raise DataConfigError(
                f"{cfg.source_field(i, 'transform')}: kind 'chat' needs a tokenizer with a chat template; "
                f"{getattr(tokenizer, 'name_or_path', tokenizer)!r} has none"
            )


def check_sources(cfg: MixtureConfig, probe: int | None = None) -> None:
    """Fail before any real work when a source has no valid record.

    Reads each source only until its first record that becomes a document, so the check
    is instant for healthy sources; a source whose records are all bad is read to the
    end (or ``probe`` items) and reported with its drop counts.
    """
    for i, spec in enumerate(cfg.sources):
        stats = SourceStats()
        items = enumerate(read_source(spec))
        if probe is not None:
            items = islice(items, probe)
        if next(documents(spec, cfg.seed, items, stats), None) is None:
            location = f" ({', '.join(spec.paths())})" if spec.paths() else f" (corpus {spec.corpus!r})"
            examples = "; ".join(f"{r}: {e}" for r, e in sorted(stats.examples.items())[:3])
            raise DataConfigError(
                f"{cfg.source_field(i, 'path' if spec.paths() else 'corpus')}{location}: "
                f"no valid records ({stats.summary()}){'; e.g. ' + examples if examples else ''}"
            )
