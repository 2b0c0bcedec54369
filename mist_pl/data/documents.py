"""Source -> documents -> token ids: the step shared by ``prepare`` and on-the-fly loading.

Records are numbered by their position in the source's item stream (malformed items
included), and that number seeds the record's transform. Splitting a source into chunks
at fixed positions therefore gives the same documents whether a chunk runs in a worker
process, in the main process, or again after an interrupted run.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator, Sequence

from mist_pl.data.config import DataConfigError, MixtureConfig, SourceSpec
from mist_pl.data.docstore import MemoryDocs
from mist_pl.data.sources import Item, Malformed, read_source
from mist_pl.data.stats import SourceStats
from mist_pl.data.transforms import apply_transform, build_transform, record_seed


def documents(
    spec: SourceSpec, seed: int, items: Iterable[tuple[int, Item]], stats: SourceStats
) -> Iterator[tuple[str, str]]:
    """``(text, origin)`` for each record that becomes a document; drops are counted in ``stats``."""
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


def tokenize_chunk(
    spec: SourceSpec, seed: int, items: Iterable[tuple[int, Item]], tokenizer, batch: int = 512
) -> tuple[list[list[int]], list[str], SourceStats]:
    """Transform and tokenize one chunk of a source: ``(token_lists, origins, stats)``."""
    stats = SourceStats()
    token_lists: list[list[int]] = []
    origins: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        for ids in tokenize(tokenizer, pending):
            token_lists.append(ids)
        pending.clear()

    for text, origin in documents(spec, seed, items, stats):
        pending.append(text)
        origins.append(origin)
        if len(pending) >= batch:
            flush()
    flush()
    # A document can tokenize to nothing (e.g. only characters the tokenizer strips).
    keep = [i for i, ids in enumerate(token_lists) if ids]
    if len(keep) < len(token_lists):
        for i in sorted(set(range(len(token_lists))) - set(keep)):
            stats.drop("empty_after_tokenization", origins[i])
    token_lists = [token_lists[i] for i in keep]
    origins = [origins[i] for i in keep]
    stats.kept = len(token_lists)
    stats.tokens = sum(len(t) for t in token_lists)
    return token_lists, origins, stats


def load_in_memory(spec: SourceSpec, seed: int, tokenizer) -> tuple[MemoryDocs, SourceStats]:
    """Read, transform and tokenize a whole source (tiny runs; ``prepare`` for anything larger)."""
    token_lists, _, stats = tokenize_chunk(spec, seed, enumerate(read_source(spec)), tokenizer)
    return MemoryDocs(token_lists), stats


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
