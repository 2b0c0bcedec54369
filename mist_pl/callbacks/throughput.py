"""Tokens/s, samples/s and model FLOPs utilization (MFU) of real tokens, in TensorBoard and
the progress bar: :class:`TokenThroughput`.

A batch row holds real tokens and padding. Packed CPT rows are nearly all real; unpacked
SFT rows (``pack: false``) are one example padded to ``seq_len``, often mostly padding.
The model computes on the padding too, but a user comparing runs, or an MFU with the
planner's (:mod:`mist_pl.planning.speed`), means tokens of text: counting ``numel()``
of the batch inflated both by the padding share. Here a token counts when it is real:

* with an ``attention_mask`` in the batch: where it is 1;
* else (the packed and unpacked CPT/SFT rows of :mod:`mist_pl.data.packing`, which carry
  no mask on purpose): everything but a row's trailing padding block, the last
  ``position_ids`` block when it is all ``pad_token_id``.

FLOPs per batch: 6 per matmul parameter per real token (forward + backward) plus the
attention scores, ``12 x layers x hidden x n`` per token of a row of ``n`` real tokens
(the PaLM appendix estimate, as the planner counts it). ``perf/padding_frac`` logs the
share of row positions that were padding.

Not Lightning's ``ThroughputMonitor`` (``lightning.pytorch.callbacks``), which counts what
a user's ``batch_size_fn``/``length_fn`` return and needs a FLOPs function; the old name
here, ``ThroughputMonitor``, is kept as a deprecated alias so saved configs still load.
"""

from __future__ import annotations

import logging
import time

import lightning as L
import torch
from lightning.fabric.utilities.throughput import get_available_flops

from mist_pl.modules.base import compute_dtype
from mist_pl.planning.speed import ATTENTION_FLOPS, TRAIN_FLOPS_PER_PARAM  # the planner's count

log = logging.getLogger(__name__)


def real_tokens_per_row(batch: dict, pad_token_id: int | None) -> torch.Tensor:
    """[B] real (non-padding) tokens of each row of a training batch (see the module docstring)."""
    ids = batch["input_ids"]
    mask = batch.get("attention_mask")
    if mask is not None:
        return mask.sum(-1)
    width = ids.shape[-1]
    positions = batch.get("position_ids")
    if positions is None or pad_token_id is None:
        return torch.full(ids.shape[:1], width, dtype=torch.long, device=ids.device)
    columns = torch.arange(width, device=ids.device)
    # Start of each row's last position block (position 0 at column 0 at least).
    last_start = torch.where(positions == 0, columns, 0).amax(-1)
    in_last = columns[None, :] >= last_start[:, None]
    all_pad = ((ids == pad_token_id) | ~in_last).all(-1)
    return torch.where(all_pad, last_start, torch.full_like(last_start, width))


def flops_per_token(model: torch.nn.Module, seq_len: int) -> float:
    """Training FLOPs per token of a row of ``seq_len`` tokens: 6 per parameter used in a
    matmul (forward + backward) plus attention scores, 12 * layers * hidden * context.

    The input embedding is a lookup, not a matmul, so it is left out; but a tied output
    head reuses that matrix in a real matmul (vocab x hidden per token), so it counts."""
    return TRAIN_FLOPS_PER_PARAM * matmul_params(model) + _attention_per_token(model) * seq_len


def matmul_params(model: torch.nn.Module) -> int:
    n_params = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    tied = head is not None and head.weight is embed
    return n_params if tied else n_params - embed.numel()


def _attention_per_token(model: torch.nn.Module) -> float:
    config = model.config
    return ATTENTION_FLOPS * config.num_hidden_layers * config.hidden_size


def batch_flops(model: torch.nn.Module, row_tokens: torch.Tensor) -> float:
    """Training FLOPs of a batch whose rows hold ``row_tokens`` real tokens each."""
    n = row_tokens.double()
    return float(TRAIN_FLOPS_PER_PARAM * matmul_params(model) * n.sum() + _attention_per_token(model) * (n * n).sum())


class TokenThroughput(L.Callback):
    """Real tokens/s and MFU over windows of ``log_every_n_steps`` batches.

    Logs ``perf/tokens_per_s`` (all ranks), ``perf/tokens_per_s_per_device``,
    ``perf/samples_per_s``, ``perf/padding_frac`` and, when the device's peak is known,
    ``perf/mfu``.

    Args:
        peak_flops: the device's peak FLOP/s for MFU. By default Lightning's table of known
            accelerators is used (H100, A100, ...); on CPU MFU is not logged unless given.
    """

    def __init__(self, peak_flops: float | None = None) -> None:
        self.peak_flops = peak_flops
        self._start = None
        self._tokens = self._positions = self._samples = 0
        self._flops = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.peak_flops is None:
            # The bf16 peak exactly when the module computes in bf16 (one choice, modules.base).
            dtype = compute_dtype(str(trainer.precision)) or torch.float32
            self.peak_flops = get_available_flops(pl_module.device, dtype)
        self._start = None

    def _sync(self, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._start is None:
            self._sync(pl_module)
            self._start = time.perf_counter()
            self._tokens = self._positions = self._samples = 0
            self._flops = 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        ids = batch["input_ids"] if isinstance(batch, dict) and "input_ids" in batch else None
        if ids is None:
            return
        tokenizer = getattr(pl_module, "tokenizer", None)
        rows = real_tokens_per_row(batch, getattr(tokenizer, "pad_token_id", None))
        self._tokens += int(rows.sum())
        self._positions += ids.numel()
        self._samples += ids.shape[0]
        model = getattr(pl_module, "model", None)
        if model is not None:
            self._flops += batch_flops(model, rows)
        if (batch_idx + 1) % max(1, trainer.log_every_n_steps) != 0:
            return
        self._sync(pl_module)
        elapsed = time.perf_counter() - self._start
        world = trainer.world_size
        tokens_per_s = self._tokens / elapsed
        metrics = {
            "perf/tokens_per_s_per_device": tokens_per_s,
            "perf/samples_per_s": self._samples / elapsed * world,
            "perf/padding_frac": 1.0 - self._tokens / max(self._positions, 1),
        }
        if self.peak_flops and self._flops:
            metrics["perf/mfu"] = self._flops / elapsed / self.peak_flops
        pl_module.log("perf/tokens_per_s", tokens_per_s * world, prog_bar=True, on_step=True)
        pl_module.log_dict(metrics, on_step=True)
        # The next window starts now, so data loading between batches is counted too.
        self._start = time.perf_counter()
        self._tokens = self._positions = self._samples = 0
        self._flops = 0.0


class ThroughputMonitor(TokenThroughput):
    """Deprecated name of :class:`TokenThroughput` (easily confused with Lightning's own
    ``ThroughputMonitor``); kept so configs that name it still load."""

    def __init__(self, peak_flops: float | None = None) -> None:
        log.warning("mist_pl.callbacks.throughput.ThroughputMonitor is now TokenThroughput; "
                    "update the config's class_path")
        super().__init__(peak_flops)
