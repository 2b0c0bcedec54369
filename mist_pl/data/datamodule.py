"""``MixtureDataModule``: the CPT and SFT data module (mixture -> packed batches), resumable to the sample.

The same module serves continued pre-training (text sources) and supervised fine-tuning
(sources with transform kind ``chat``: prompt/completion pairs through the tokenizer's
chat template, loss on the completion only), or a mix of both. ``pack=True`` puts
several documents or examples in a row (position ids reset per document: block-diagonal
attention); ``pack=False`` one per row, padded.

Batch contract (training and validation), all ``torch.long``:

==================  ========  =================================================================
``input_ids``       [B, T]    packed documents separated by EOS, padded with ``pad_token_id``
``labels``          [B, T]    HF convention: ``input_ids`` where trained, -100 at each document's
                              first token (no label crosses a document boundary), on padding and,
                              for chat examples, on the prompt (system and user turns and the
                              assistant header): only the completion and its end-of-turn are trained;
                              loss = CE(logits[:, :-1], labels[:, 1:]) (HF models shift inside)
``position_ids``    [B, T]    restart at 0 for every document: pass them to the model, with
                              no ``attention_mask`` and ``use_cache=False``, and transformers
                              builds the block-diagonal mask (see :mod:`mist_pl.data.packing`)
``source_ids``      [B]       index into :attr:`MixtureDataModule.source_names` (a row holds one
                              source), for per-source loss / perplexity
``sample_index``    [B]       training only: the row's global position in the stream
==================  ========  =================================================================

How resuming works with Lightning 2.6
-------------------------------------
Sample ``i`` of the stream is a pure function of ``(seed, i)`` (:mod:`mist_pl.data.mixture`),
so the only state is *how many samples the training steps consumed*. The module counts
them in :meth:`on_before_batch_transfer`, a data hook Lightning calls exactly once for
each batch a training step receives (after its fetcher's one-batch prefetch, so a
prefetched batch is never counted), and :meth:`state_dict` returns the count. Lightning
stores a data module's ``state_dict`` in every checkpoint and calls
:meth:`load_state_dict` on resume (after ``setup``, before ``train_dataloader``), so the
new stream starts at that sample, whether the checkpoint was taken mid-epoch or at an
epoch end.

The training loader (:class:`~mist_pl.data.datasets.StreamLoader`) also implements
``state_dict``/``load_state_dict`` with the same number: Lightning's fit loop then
treats it as resumable (it saves it under ``loops.fit_loop.state_dict.combined_loader``
and restores it on mid-epoch restarts) instead of warning that it is not. It is a
mirror, not a second source of truth: a loader-side counter alone would be one
prefetched batch ahead.

Consequences: when both define ``on_before_batch_transfer`` Lightning runs only the data
module's, so the LightningModule should not override that hook; workers are not
persistent (they are re-created with the current start each epoch). Resuming on a
different number of ranks keeps the sample order, since ranks interleave global indices.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import lightning as L
import numpy as np
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from mist_pl.data.config import MixtureConfig, load_mixture
from mist_pl.data.contract import DataFacts, data_parallel_place, model_tokenizer
from mist_pl.data.datasets import HeldOutRows, MixtureStream, StreamLoader
from mist_pl.data.docstore import ShardDocs, ShardError
from mist_pl.data.documents import check_chat_template, check_sources, load_in_memory
from mist_pl.data.errors import DataConfigError
from mist_pl.data.mixture import (
    MAX_EPOCH_ROWS,
    EpochTooLarge,
    Mixture,
    MixtureSource,
    rows_per_epoch,
    seeded_rng,
    stable_key,
)
from mist_pl.data.overlong import OverlongCounts, fit_examples
from mist_pl.data.packing import Documents, PackPlan, plan_rows
from mist_pl.data.prepare import prepare, source_fingerprint
from mist_pl.data.shards import ManifestError, read_manifest, shard_name, shard_problem
from mist_pl.data.stats import SourceStats
from mist_pl.data.tokenization import resolve_tokenizer, tokenizer_fingerprint
from mist_pl.data.transforms import is_chat, overlong_policy

log = logging.getLogger(__name__)


class MixtureDataModule(L.LightningDataModule):
    """Packed CPT / SFT batches from a weighted mixture of sources.

    Args:
        mixture: path of a mixture YAML (``conf/data/*.yaml``). A relative path that is
            not a file in the working directory but names a config shipped in the package
            reads that (the default works from any directory). Typed ``str`` so that
            LightningCLI passes the path through and errors name the file; in Python a
            :class:`MixtureConfig` or a dict is accepted too.
        tokenizer: built-in tokenizer name or local folder (or a tokenizer object in
            Python). Default: the tokenizer of the model being trained (a
            :class:`~mist_pl.data.contract.TokenizerOwner`, as every mist-pl module is),
            so data and model can never disagree; without a model, the mixture's
            ``tokenizer``.
        seq_len: tokens per packed row.
        batch_size: rows per batch on each rank.
        num_workers: dataloader worker processes (batches are identical for any number).
        prepared_dir: train from tokenized shards in this folder; ``prepare_data`` writes
            the missing ones (``python -m mist_pl.data.prepare`` does the same with a
            process pool). ``None`` reads, transforms and tokenizes the sources in
            ``setup`` (tiny runs).
        split_documents: pack text documents GPT-style (concatenate, cut every
            ``seq_len`` tokens: no padding, but documents may be split across rows)
            instead of keeping each document whole (best-fit; see
            :mod:`mist_pl.data.packing`). Chat examples are always kept whole.
        pack: several documents / chat examples per row (default); ``False`` puts each
            in a row of its own, padded to ``seq_len`` (incompatible with ``split_documents``).
        val_fraction: share of each source's documents held out for validation.
        max_val_rows: at most this many packed validation rows per source.
        log_mixture_every_n_batches: offer the realized mixture (token shares per source)
            for logging this often (:meth:`data_metrics`; the model writes it to the
            trainer's loggers); 0 disables.
    """

    def __init__(
        self,
        mixture: str = "conf/data/chem_mix_tiny.yaml",
        tokenizer: Union[str, PreTrainedTokenizerBase, None] = None,
        seq_len: int = 256,
        batch_size: int = 8,
        num_workers: int = 0,
        prepared_dir: Optional[str] = None,
        split_documents: bool = False,
        pack: bool = True,
        val_fraction: float = 0.02,
        max_val_rows: int = 16,
        log_mixture_every_n_batches: int = 50,
    ) -> None:
        super().__init__()
        if seq_len < 2 or batch_size < 1 or num_workers < 0:
            raise ValueError(f"need seq_len >= 2, batch_size >= 1, num_workers >= 0; got {seq_len}, {batch_size}, {num_workers}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if split_documents and not pack:
            raise ValueError("split_documents=True packs by definition; it cannot be combined with pack=False")
        self.mixture = mixture
        self.tokenizer = tokenizer
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.prepared_dir = prepared_dir
        self.split_documents = split_documents
        self.pack = pack
        self.val_fraction = val_fraction
        self.max_val_rows = max_val_rows
        self.log_mixture_every_n_batches = log_mixture_every_n_batches
        self.consumed_samples = 0  # global samples the training steps have received
        self.config: Optional[MixtureConfig] = None
        self.source_stats: dict[str, SourceStats] = {}
        self.overlong_counts: dict[str, OverlongCounts] = {}  # chat sources: examples cut or dropped to fit seq_len
        self._mixture: Optional[Mixture] = None
        self._val_sources: list[MixtureSource] = []
        self._stream: Optional[MixtureStream] = None
        self._world_size = 1
        self._restored_fingerprint: Optional[str] = None
        self._step_samples = 0  # global samples of the last counted training batch

    # ----------------------------------------------------------------- setup
    def _choose_tokenizer(self, cfg: MixtureConfig) -> Union[str, PreTrainedTokenizerBase, None]:
        """data.tokenizer if set, else the model's, else the mixture's. The mixture file's
        tokenizer is only a default for use without a model: token ids from another
        vocabulary would train the model on noise (loss near ln(vocab), silently)."""
        if self.tokenizer is not None:
            return self.tokenizer
        from_model = model_tokenizer(self.trainer)
        if from_model is None:
            return cfg.tokenizer
        if cfg.tokenizer is not None:
            named = resolve_tokenizer(cfg.tokenizer, f"{cfg.origin}: tokenizer")
            if tokenizer_fingerprint(named) != tokenizer_fingerprint(from_model):
                log.warning("%s: tokenizer %r is not the model's; using the model's tokenizer (%s, %d tokens)",
                            cfg.origin, cfg.tokenizer, type(from_model).__name__, len(from_model))
        return from_model

    def prepare_data(self) -> None:
        """With ``prepared_dir``: build missing shards once per node (finished ones are skipped)."""
        if self.prepared_dir:
            cfg = load_mixture(self.mixture)
            prepare(cfg, self.prepared_dir, self._choose_tokenizer(cfg), workers=0)

    def setup(self, stage: Optional[str] = None) -> None:
        if self._mixture is not None:
            return  # fit -> validate/test reuse the same data
        cfg = self.config = load_mixture(self.mixture)
        tokenizer = self.tokenizer = resolve_tokenizer(self._choose_tokenizer(cfg), f"{cfg.origin}: tokenizer")
        check_chat_template(cfg, tokenizer)
        loaded = self._load_prepared(cfg, tokenizer) if self.prepared_dir else self._load_sources(cfg, tokenizer)
        train, val = [], []
        for i, (spec, (docs, stats)) in enumerate(zip(cfg.sources, loaded)):
            self.source_stats[spec.name] = stats
            train_ids, val_ids = self._split(cfg.seed, spec.name, len(docs))
            order = seeded_rng(cfg.seed, stable_key(spec.name), 0x646F63).permutation(train_ids)
            plan = self._plan(spec, docs, order)
            if plan.num_rows == 0:
                raise DataConfigError(
                    f"{cfg.source_field(i, 'transform')}: no example fits seq_len={self.seq_len} "
                    f"({self.overlong_counts.get(spec.name, OverlongCounts()).summary()}); raise seq_len or shorten the prompts"
                )
            train.append(MixtureSource(spec.name, docs, plan, 0.0))
            if len(val_ids):
                plan = _first_rows(self._plan(spec, docs, val_ids), self.max_val_rows)
                val.append(MixtureSource(spec.name, docs, plan, 0.0))
        tokens_per_row = [s.plan.row_tokens().mean() for s in train]
        data_tokens = int(sum(s.plan.row_tokens().sum() for s in train))
        try:
            if cfg.uses_budgets:
                budgets = [s.tokens for s in cfg.sources]
                counts = rows_per_epoch(tokens_per_row, budgets=budgets)
                shares = np.asarray(budgets, dtype=float) / sum(budgets)
            else:
                weights = [s.weight for s in cfg.sources]
                counts = rows_per_epoch(tokens_per_row, weights=weights, epoch_tokens=cfg.tokens_per_epoch or data_tokens)
                shares = np.asarray(weights, dtype=float) / sum(weights)
        except EpochTooLarge as err:
            raise DataConfigError(_epoch_too_large(cfg, err.rows, data_tokens)) from None
        for source, share in zip(train, shares):
            source.weight = float(share)
        self._val_sources = val
        self._mixture = Mixture(train, counts, cfg.seed, tokenizer.eos_token_id, tokenizer.pad_token_id)
        if self._restored_fingerprint is not None:
            self._check_fingerprint()
        self._log_setup(counts)

    def _plan(self, spec, docs: Documents, doc_ids: np.ndarray) -> PackPlan:
        """Rows of ``doc_ids``. Chat examples are first fitted to ``seq_len`` (cut or dropped,
        counted in :attr:`overlong_counts`), get no EOS and are never split across rows."""
        if not is_chat(spec.transform):
            return plan_rows(doc_ids, docs.lengths, self.seq_len, self.split_documents, pack=self.pack)
        doc_ids, lengths, counts = fit_examples(docs, doc_ids, self.seq_len, overlong_policy(spec.transform))
        self.overlong_counts.setdefault(spec.name, OverlongCounts()).add(counts)
        return plan_rows(doc_ids, lengths, self.seq_len, append_eos=False, pack=self.pack)

    def _load_sources(self, cfg: MixtureConfig, tokenizer) -> list:
        check_sources(cfg)
        return [load_in_memory(spec, cfg.seed, tokenizer) for spec in cfg.sources]

    def _load_prepared(self, cfg: MixtureConfig, tokenizer) -> list:
        folder = Path(self.prepared_dir)
        try:
            manifest = read_manifest(folder)
        except ManifestError as err:
            raise DataConfigError(f"{err}; rebuild the shards with {_prepare_command(cfg, folder)}") from None
        where = folder / "manifest.json"
        tok_fp = tokenizer_fingerprint(tokenizer)
        if manifest.get("tokenizer") != tok_fp:
            raise DataConfigError(
                f"{where}: tokenizer: shards were made with {manifest.get('tokenizer')}, "
                f"the data module's tokenizer is {tok_fp}; re-run prepare with this tokenizer"
            )
        loaded = []
        for i, spec in enumerate(cfg.sources):
            entry = manifest["sources"].get(spec.name)
            if entry is None or not entry.get("complete"):
                raise DataConfigError(
                    f"{cfg.source_field(i, 'name')}: not (fully) prepared in {folder}; "
                    f"run {_prepare_command(cfg, folder)}"
                )
            if entry["fingerprint"] != source_fingerprint(spec, cfg, tok_fp["sha256"], getattr(tokenizer, "chat_template", None)):
                raise DataConfigError(
                    f"{cfg.source_field(i, 'name')}: settings changed since {folder} was prepared; re-run prepare"
                )
            docs = self._open_shards(cfg, folder, spec.name, entry, len(tokenizer))
            if len(docs) == 0:
                raise DataConfigError(f"{cfg.source_field(i, 'name')}: no valid records in {folder / spec.name}")
            loaded.append((docs, SourceStats.from_dict(entry["totals"])))
        return loaded

    @staticmethod
    def _open_shards(cfg: MixtureConfig, folder: Path, source: str, entry: dict, vocab_size: int) -> ShardDocs:
        """The source's shards, each checked against the size and sha256 the manifest
        recorded when it was written, and its token ids against the vocabulary.

        Every rank checks what it opens (shards are read from a shared folder that another
        job may be writing). A shard with other bytes is refused with the command that
        rebuilds it: ``prepare`` rebuilds exactly the shards that fail this check."""
        rebuild = _prepare_command(cfg, folder)
        paths = [folder / source / shard_name(k) for k in range(entry["num_shards"])]
        for path in paths:
            problem = shard_problem(path, entry["shards"].get(path.name))
            if problem is not None:
                raise DataConfigError(f"{path}: {problem}; rebuild it with {rebuild}")
        try:
            return ShardDocs(paths, vocab_size=vocab_size)
        except ShardError as err:  # bytes as written, content wrong: rebuild from scratch
            raise DataConfigError(f"{err}; rebuild the shards with {rebuild} --force") from err

    def _split(self, seed: int, name: str, num_docs: int) -> tuple[np.ndarray, np.ndarray]:
        """Held-out documents: a seeded ``val_fraction`` of each source, never all of it."""
        held_out = seeded_rng(seed, stable_key(name), 0x76616C).random(num_docs) < self.val_fraction
        if held_out.all():
            held_out[:] = False
        return np.flatnonzero(~held_out), np.flatnonzero(held_out)

    # ----------------------------------------------------------- dataloaders
    @property
    def source_names(self) -> list[str]:
        """Names of the sources; ``batch["source_ids"]`` indexes this list."""
        self._require_setup()
        return self._mixture.names

    def train_dataloader(self) -> StreamLoader:
        self._require_setup()
        rank, world = data_parallel_place(self.trainer)
        self._world_size = world
        samples_per_step = self.batch_size * world
        batches = max(1, self._mixture.schedule.epoch_rows // samples_per_step)
        self._stream = MixtureStream(self._mixture, self.batch_size, batches, self.consumed_samples, rank, world)
        # Lightning warns that an IterableDataset with __len__ may duplicate data across
        # workers; this stream assigns batches to workers itself, so the length is exact.
        warnings.filterwarnings("ignore", message="Your `IterableDataset` has `__len__` defined")
        return StreamLoader(self._stream, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        self._require_setup()
        rows = HeldOutRows(self._val_sources, self._mixture.eos_id, self._mixture.pad_id)
        return DataLoader(rows, batch_size=self.batch_size, collate_fn=HeldOutRows.collate, num_workers=self.num_workers)

    # ---------------------------------------------------- resumable state
    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        trainer = self.trainer
        if trainer is not None and trainer.training and isinstance(batch, dict) and "sample_index" in batch:
            self.mark_consumed(batch)
        return batch

    def mark_consumed(self, batch: dict) -> None:
        """Count a training batch as consumed (Lightning does this through the hook above)."""
        self._step_samples = len(batch["sample_index"]) * self._world_size
        self.consumed_samples += self._step_samples
        if self._stream is not None:
            self._stream.start = self.consumed_samples  # dataloader workers start here next epoch

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"consumed_samples": self.consumed_samples}
        if self._mixture is not None:
            state["fingerprint"] = self.fingerprint()
            state["realized_mixture"] = self.realized_mixture()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.consumed_samples = int(state_dict["consumed_samples"])
        self._restored_fingerprint = state_dict.get("fingerprint")
        if self._stream is not None:
            self._stream.start = self.consumed_samples
        if self._mixture is not None and self._restored_fingerprint is not None:
            self._check_fingerprint()

    def fingerprint(self) -> str:
        """Hash of what decides the stream; a resumed run with another value sees other batches."""
        self._require_setup()
        m = self._mixture
        payload = {
            "seed": m.schedule.seed,
            "seq_len": self.seq_len,
            "split_documents": self.split_documents,
            "pack": self.pack,
            "sources": m.names,
            "epoch_rows": m.schedule.counts.tolist(),
            "plan_rows": [s.plan.num_rows for s in m.sources],
            "docs": [len(s.docs) for s in m.sources],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def _check_fingerprint(self) -> None:
        if self._restored_fingerprint != self.fingerprint():
            warnings.warn(
                "the data mixture differs from the checkpoint's (sources, seed, seq_len or documents changed): "
                f"training continues at sample {self.consumed_samples} of the new stream, not the old one",
                stacklevel=2,
            )

    # ------------------------------------------------------------- mixture
    def realized_mixture(self, num_samples: Optional[int] = None) -> dict[str, dict[str, float]]:
        """Rows, tokens and token share of each source in the first ``num_samples`` samples
        (default: those consumed so far, over all ranks), with the target share."""
        self._require_setup()
        return self._mixture.realized(self.consumed_samples if num_samples is None else num_samples)

    # ------------------------------------------------- contract with the model
    def data_facts(self) -> DataFacts:
        """Seq_len, batch size, tokens held, tokenizer and sources (:mod:`mist_pl.data.contract`)."""
        tokenizer = None if isinstance(self.tokenizer, str) else self.tokenizer
        tokens = sum(int(s.tokens) for s in self.source_stats.values()) if self.source_stats else None
        names = tuple(self._mixture.names) if self._mixture is not None else ()
        return DataFacts(batch_size=self.batch_size, seq_len=self.seq_len, train_tokens=tokens,
                         tokenizer=tokenizer, source_names=names)

    def data_metrics(self) -> dict[str, float]:
        """The realized mixture (``data/token_share/<source>``, ``data/tokens/<source>``)
        every ``log_mixture_every_n_batches`` counted training batches, else nothing."""
        every = self.log_mixture_every_n_batches
        if not every or not self._step_samples or self._mixture is None:
            return {}
        if (self.consumed_samples // self._step_samples) % every:
            return {}
        metrics = {}
        for name, row in self.realized_mixture().items():
            metrics[f"data/token_share/{name}"] = row["token_share"]
            metrics[f"data/tokens/{name}"] = row["tokens"]
        return metrics

    def packing_efficiency(self) -> dict[str, float]:
        """Non-padding fraction of the packed training rows, per source."""
        self._require_setup()
        return {s.name: s.plan.efficiency for s in self._mixture.sources}

    def _require_setup(self) -> None:
        if self._mixture is None:
            raise RuntimeError("MixtureDataModule.setup() has not run yet")

    def _log_setup(self, counts: np.ndarray) -> None:
        for source, rows in zip(self._mixture.sources, counts):
            overlong = self.overlong_counts.get(source.name)
            log.info(
                "source %-22s %s%s | packing %.1f%% | %d rows/epoch, target token share %.3f",
                source.name, self.source_stats[source.name].summary(),
                f" | overlong for seq_len {self.seq_len}: {overlong.summary()}" if overlong else "",
                100 * source.plan.efficiency, rows, source.weight,
            )


def _prepare_command(cfg: MixtureConfig, folder: Path) -> str:
    """The command that (re)builds the shards of ``folder``."""
    return f"python -m mist_pl.data.prepare --config {cfg.origin} --output-dir {folder}"


def _epoch_too_large(cfg: MixtureConfig, rows: float, data_tokens: int) -> str:
    """The field that asked for a mixture epoch of ``rows`` rows, and what fits: the tokens
    it asked for, scaled down to :data:`MAX_EPOCH_ROWS` rows."""
    if cfg.uses_budgets:
        asked = sum(s.tokens for s in cfg.sources)
        field, wants = "sources[].tokens", f"budgets of {asked:,} tokens per mixture epoch"
    elif cfg.tokens_per_epoch:
        asked = cfg.tokens_per_epoch
        field, wants = "tokens_per_epoch", f"{asked:,} tokens per mixture epoch"
    else:
        asked = data_tokens
        field, wants = "tokens_per_epoch", f"unset, so a mixture epoch is all {asked:,} tokens of the sources: they"
    fits = int(asked * MAX_EPOCH_ROWS / rows)
    return (f"{cfg.origin}: {field}: {wants} need {rows:.3g} rows of ~{asked / rows:.0f} tokens, and one epoch's "
            f"schedule holds at most {MAX_EPOCH_ROWS:,} rows: at most ~{fits:,} tokens per mixture epoch fit "
            f"(the sources hold {data_tokens:,}; an epoch longer than that repeats them)")


def _first_rows(plan, limit: int):
    """The plan cut to its first ``limit`` rows (validation stays short on large sources)."""
    if plan.num_rows <= limit:
        return plan
    end = int(plan.row_offsets[limit])
    return PackPlan(plan.seq_len, plan.row_offsets[: limit + 1], plan.piece_doc[:end], plan.piece_start[:end], plan.piece_len[:end])
