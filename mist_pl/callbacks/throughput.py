"""Tokens/s, samples/s and model FLOPs utilization (MFU) in TensorBoard and the progress bar."""

from __future__ import annotations

import time

import lightning as L
import torch
from lightning.fabric.utilities.throughput import get_available_flops


def flops_per_token(model: torch.nn.Module, seq_len: int) -> float:
    """Training FLOPs per token: 6 per parameter used in a matmul (forward + backward)
    plus attention scores, 12 * layers * hidden * context (the PaLM appendix estimate).

    The input embedding is a lookup, not a matmul, so it is left out; but a tied output
    head reuses that matrix in a real matmul (vocab x hidden per token), so it counts."""
    config = model.config
    n_params = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    tied = head is not None and head.weight is embed
    n_matmul = n_params if tied else n_params - embed.numel()
    layers, hidden = config.num_hidden_layers, config.hidden_size
    return 6.0 * n_matmul + 12.0 * layers * hidden * seq_len


class ThroughputMonitor(L.Callback):
    """Measures the training loop over windows of ``log_every_n_steps`` batches.

    Args:
        peak_flops: the device's peak FLOP/s for MFU. By default Lightning's table of known
            accelerators is used (H100, A100, ...); on CPU MFU is not logged unless given.
    """

    def __init__(self, peak_flops: float | None = None) -> None:
        self.peak_flops = peak_flops
        self._start = None
        self._tokens = 0
        self._samples = 0
        self._flops_per_token: float | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.peak_flops is None:
            precision = str(trainer.precision)
            dtype = torch.bfloat16 if precision.startswith("bf16") else torch.float32
            self.peak_flops = get_available_flops(pl_module.device, dtype)
        self._start = None

    def _sync(self, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._start is None:
            self._sync(pl_module)
            self._start = time.perf_counter()
            self._tokens = self._samples = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        ids = batch["input_ids"] if isinstance(batch, dict) and "input_ids" in batch else None
        if ids is None:
            return
        self._tokens += ids.numel()
        self._samples += ids.shape[0]
        if self._flops_per_token is None and getattr(pl_module, "model", None) is not None:
            self._flops_per_token = flops_per_token(pl_module.model, ids.shape[-1])
        if (batch_idx + 1) % max(1, trainer.log_every_n_steps) != 0:
            return
        self._sync(pl_module)
        elapsed = time.perf_counter() - self._start
        world = trainer.world_size
        tokens_per_s = self._tokens / elapsed
        metrics = {
            "perf/tokens_per_s": tokens_per_s * world,
            "perf/tokens_per_s_per_device": tokens_per_s,
            "perf/samples_per_s": self._samples / elapsed * world,
        }
        if self.peak_flops and self._flops_per_token:
            metrics["perf/mfu"] = tokens_per_s * self._flops_per_token / self.peak_flops
        pl_module.log("perf/tokens_per_s", metrics.pop("perf/tokens_per_s"), prog_bar=True, on_step=True)
        pl_module.log_dict(metrics, on_step=True)
        # The next window starts now, so data loading between batches is counted too.
        self._start = time.perf_counter()
        self._tokens = self._samples = 0
