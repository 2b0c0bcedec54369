"""Tokenize a mixture into shards: ``python -m mist_pl.data.prepare --config conf/data/<mix>.yaml``.

For every source, records are read in order and cut into chunks of ``shard_records``
items; each chunk is transformed and tokenized (chat sources also store their loss
masks, see :mod:`mist_pl.data.shards`) (in a process pool with ``--workers``)
and written as ``<output_dir>/<source>/shard-NNNNN.arrow``. ``manifest.json`` records
each finished shard with its counts (records read, kept, dropped by reason, tokens) and
per-source totals.

Re-running is cheap and safe: a shard listed in the manifest whose file still has the
size and sha256 recorded there is not redone (its records are still read, to find where
the next chunk starts, but not transformed); a missing, truncated or damaged one is
rebuilt (deterministically: the same bytes). Shards are written atomically, and the
manifest is rewritten after every shard, so an interrupted run loses at most the shards
that were in flight. A source
whose settings changed (transform, files, seed, tokenizer, chunk size) gets a new
fingerprint and is rebuilt; ``--force`` rebuilds everything (use it after changing
chemistry code, which fingerprints cannot see).

Before any work starts, the mixture is validated (missing files, bad weights) and every
source must yield at least one valid document.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from mist_pl.data.config import MixtureConfig, SourceSpec, load_mixture
from mist_pl.data.corpora import read_source
from mist_pl.data.documents import check_chat_template, check_sources, tokenize_chunk
from mist_pl.data.errors import DataConfigError
from mist_pl.data.readers import Item
from mist_pl.data.shards import (
    FORMAT,
    ManifestError,
    read_manifest,
    shard_name,
    shard_problem,
    shard_record,
    write_manifest,
    write_shard,
)
from mist_pl.data.stats import SourceStats
from mist_pl.data.tokenization import resolve_tokenizer, tokenizer_fingerprint
from mist_pl.data.transforms import is_chat

log = logging.getLogger(__name__)


def source_fingerprint(spec: SourceSpec, cfg: MixtureConfig, tokenizer_sha: str, chat_template: Optional[str] = None) -> str:
    """Hash of everything that decides a source's shards.

    A chat source's tokens also depend on the tokenizer's chat template, which the
    vocabulary hash does not see; text sources leave it out, so their fingerprints (and
    finished shards) stay what they were before chat sources existed."""
    payload = {
        "format": FORMAT,
        "spec": {k: v for k, v in asdict(spec).items() if k not in ("weight", "tokens", "optional")},
        "seed": cfg.seed,
        "shard_records": cfg.shard_records,
        "tokenizer": tokenizer_sha,
    }
    if is_chat(spec.transform):
        payload["chat_template"] = hashlib.sha256(str(chat_template).encode()).hexdigest()[:16]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def chunks(items: Iterable[tuple[int, Item]], size: int) -> Iterator[list[tuple[int, Item]]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


_WORKER_TOKENIZER = None
# Exit status of a worker that outlived its parent (128 + SIGHUP, as a shell reports one).
ORPHANED_EXIT = 129
# How often a worker without a parent sentinel checks that its parent is still its parent.
PARENT_POLL_S = 1.0


def _init_worker(tokenizer) -> None:
    global _WORKER_TOKENIZER
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core already
    _WORKER_TOKENIZER = tokenizer
    _exit_with_parent()


def _exit_with_parent() -> None:
    """End this pool worker as soon as the ``prepare`` process that started it is gone.

    A worker waits on the pool's task queue, and holds both ends of that pipe itself, so it
    never sees the queue close: after ``kill -9`` of ``prepare`` the workers (hundreds of MB
    each) went on living. A daemon thread waits on the parent's sentinel, a pipe the parent
    holds open until it dies (``multiprocessing.parent_process()``, spawned workers), or else
    polls the parent pid, and then exits at once: a shard being written is only a temporary
    file, which the next run ignores, so nothing half-done is left to trust."""
    parent = multiprocessing.parent_process()
    parent_pid = os.getppid()

    def watch() -> None:
        if parent is not None and parent.sentinel is not None:
            multiprocessing.connection.wait([parent.sentinel])
        else:
            while os.getppid() == parent_pid:
                time.sleep(PARENT_POLL_S)
        os._exit(ORPHANED_EXIT)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def build_shard(spec: SourceSpec, seed: int, chunk: list[tuple[int, Item]], path: Path, tokenizer=None) -> dict:
    """Transform, tokenize and write one shard; returns its stats with its size and sha256
    (as stored in the manifest). Hashed here, in the worker, while the file is in cache."""
    tokenized = tokenize_chunk(spec, seed, chunk, tokenizer or _WORKER_TOKENIZER)
    write_shard(path, tokenized.token_lists, tokenized.origins, tokenized.loss_masks)
    return {**tokenized.stats.to_dict(), **shard_record(path)}


class _Run:
    """Book-keeping of one prepare run: manifest entries, pending shard futures, progress."""

    def __init__(self, out: Path, manifest: dict, executor: Optional[ProcessPoolExecutor], workers: int, tokenizer, bar):
        self.out, self.manifest, self.executor, self.tokenizer, self.bar = out, manifest, executor, tokenizer, bar
        self.max_pending = 2 * workers
        self.pending: dict[Future, tuple[str, str]] = {}

    def submit(self, spec: SourceSpec, seed: int, chunk: list, name: str) -> None:
        path = self.out / spec.name / name
        if self.executor is None:
            self._finish(spec.name, name, build_shard(spec, seed, chunk, path, self.tokenizer))
            return
        # Bound the chunks in flight so a huge source never sits in memory at once.
        while len(self.pending) >= self.max_pending:
            self.collect(FIRST_COMPLETED)
        self.pending[self.executor.submit(build_shard, spec, seed, chunk, path)] = (spec.name, name)

    def collect(self, mode: str = "ALL_COMPLETED") -> None:
        done, _ = wait(list(self.pending), return_when=mode)
        for future in done:
            source, name = self.pending.pop(future)
            self._finish(source, name, future.result())

    def _finish(self, source: str, name: str, stats: dict) -> None:
        entry = self.manifest["sources"][source]
        entry["shards"][name] = stats
        self._maybe_complete(entry)
        write_manifest(self.out, self.manifest)
        self.bar.update(1)

    def _maybe_complete(self, entry: dict) -> None:
        if entry.get("num_shards") is not None and len(entry["shards"]) == entry["num_shards"]:
            totals = SourceStats()
            for shard in entry["shards"].values():
                totals.add(SourceStats.from_dict(shard))
            entry["totals"] = totals.to_dict()
            entry["complete"] = True

    def source_read(self, source: str, num_shards: int) -> None:
        entry = self.manifest["sources"][source]
        entry["num_shards"] = num_shards
        # Shards beyond the end (the source shrank) must not be counted.
        entry["shards"] = {k: v for k, v in entry["shards"].items() if k in {shard_name(i) for i in range(num_shards)}}
        self._maybe_complete(entry)
        write_manifest(self.out, self.manifest)


def prepare(
    cfg: MixtureConfig,
    output_dir: Optional[str] = None,
    tokenizer: Any = None,
    workers: int = 0,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Write shards and the manifest for ``cfg``; returns the manifest."""
    from tqdm.auto import tqdm

    out_dir = output_dir or cfg.output_dir
    if not out_dir:
        raise DataConfigError(f"{cfg.origin}: output_dir: missing (set it in the file or pass --output-dir)")
    out = Path(out_dir)
    tok = resolve_tokenizer(tokenizer or cfg.tokenizer, f"{cfg.origin}: tokenizer")
    tok_fp = tokenizer_fingerprint(tok)
    check_chat_template(cfg, tok)
    check_sources(cfg)  # fail before work: every source must have a valid record

    manifest = {"format": FORMAT, "sources": {}}
    if not force:
        try:
            manifest = read_manifest(out)
        except ManifestError as err:
            log.warning("%s: rebuilding every shard", err)
    manifest.update(mixture=cfg.name, config=cfg.origin, seed=cfg.seed, tokenizer=tok_fp)
    executor = None
    if workers > 0:
        executor = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(tok,)
        )
    bar = tqdm(desc=f"prepare {cfg.name}", unit="shard", disable=not progress)
    run = _Run(out, manifest, executor, workers, tok, bar)
    try:
        for spec in cfg.sources:
            fingerprint = source_fingerprint(spec, cfg, tok_fp["sha256"], getattr(tok, "chat_template", None))
            entry = manifest["sources"].get(spec.name)
            if entry is None or entry.get("fingerprint") != fingerprint:
                if entry is not None:
                    log.info("source %s changed since the last run: rebuilding its shards", spec.name)
                manifest["sources"][spec.name] = entry = {"fingerprint": fingerprint, "complete": False, "shards": {}}
            shard_dir = out / spec.name
            problems = {n: p for n in entry["shards"] if (p := shard_problem(shard_dir / n, entry["shards"][n]))}
            for name, problem in sorted(problems.items()):
                log.warning("%s: %s: rebuilding it", shard_dir / name, problem)
            finished = entry.get("complete") and len(entry["shards"]) == entry.get("num_shards")
            if finished and not problems:
                bar.update(len(entry["shards"]))
                continue
            entry["complete"] = False
            entry["shards"] = {n: s for n, s in entry["shards"].items() if n not in problems}
            bar.set_postfix_str(spec.name)
            count = 0
            for count, chunk in enumerate(chunks(enumerate(read_source(spec)), cfg.shard_records), start=1):
                name = shard_name(count - 1)
                if name in entry["shards"]:
                    bar.update(1)
                    continue
                run.submit(spec, cfg.seed, chunk, name)
            run.source_read(spec.name, count)
        if executor is not None:
            run.collect()
    finally:
        bar.close()
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    for i, spec in enumerate(cfg.sources):
        totals = manifest["sources"][spec.name]["totals"]
        if totals["kept"] == 0:
            raise DataConfigError(f"{cfg.source_field(i, 'path' if spec.paths() else 'corpus')}: no valid records ({totals})")
    return manifest


def summary(manifest: dict) -> str:
    lines = [f"{'source':<24}{'records':>10}{'kept':>10}{'tokens':>12}  dropped"]
    for name, entry in manifest["sources"].items():
        t = entry.get("totals", {})
        drops = ", ".join(f"{r}={n}" for r, n in t.get("dropped", {}).items()) or "-"
        lines.append(f"{name:<24}{t.get('records', 0):>10}{t.get('kept', 0):>10}{t.get('tokens', 0):>12}  {drops}")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mist_pl.data.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="mixture YAML, e.g. conf/data/chem_mix_tiny.yaml")
    parser.add_argument("--output-dir", help="override the mixture's output_dir")
    parser.add_argument("--tokenizer", help="override the mixture's tokenizer (built-in name or local folder)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="processes (0: in-process)")
    parser.add_argument("--force", action="store_true", help="rebuild every shard")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_mixture(args.config)
        manifest = prepare(cfg, args.output_dir, args.tokenizer, args.workers, args.force, not args.no_progress)
    except DataConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary(manifest))
    print(f"manifest: {Path(args.output_dir or cfg.output_dir) / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
