"""Run a latent-solvability diagnostic on the live model during CPT, SFT or GRPO.

Every ``every_n_steps`` optimizer steps (and at the end of fit; optionally at the start,
for a before/after baseline) the callback scores ``pl_module.model`` with
``pl_module.tokenizer``, logs the diagnostic's scalars (``diagnostics/<name>/...``) to
every logger of the trainer, writes the per-item CSV and summary JSON under
``<out_dir or trainer.log_dir/diagnostics>/step-NNNNNN/`` and puts the model back in the
mode it was in. Data are read once, on the first run.

Under FSDP every rank runs the diagnostic (each forward gathers parameters
collectively; all ranks cut the same items into the same batches) and rank 0 logs and
writes. LS_pass@k's sampling loop ends on every rank together.

Example (YAML, under ``trainer.callbacks``)::

    - class_path: mist_pl.callbacks.diagnostics.DiagnosticsCallback
      init_args: {diagnostic: scs, every_n_steps: 200, limit: 256}
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist

from mist_pl.diagnostics.report import DiagnosticResult
from mist_pl.diagnostics.suite import DIAGNOSTICS, DiagnosticOptions, prepare_inputs, run_diagnostic

log = logging.getLogger(__name__)


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class DiagnosticsCallback(L.Callback):
    """Args:
        diagnostic: ``scs``, ``ccs``, ``ls_d`` or ``ls_passk``.
        every_n_steps: period in optimizer steps (0 = only at the start / end).
        at_start: also run before the first step (a baseline).
        at_end: also run when training ends (unless that step was just scored).
        out_dir: where per-step CSV/JSON go (default ``trainer.log_dir/diagnostics``;
            nothing is written when neither exists).
        data, tasks, limit, batch_size, seed, max_length, num_distractors, k, n,
            temperature, max_new_tokens: see :class:`DiagnosticOptions`. The default
            ``limit`` keeps a run short: a diagnostic pauses training while it runs.
    """

    def __init__(
        self,
        diagnostic: str = "scs",
        every_n_steps: int = 100,
        at_start: bool = False,
        at_end: bool = True,
        out_dir: str | None = None,
        data: list[str] | None = None,
        tasks: list[str] | None = None,
        limit: int | None = 64,
        batch_size: int = 16,
        seed: int = 0,
        max_length: int | None = None,
        num_distractors: int = 4,
        k: int = 8,
        n: int | None = None,
        temperature: float = 0.9,
        max_new_tokens: int = 128,
    ) -> None:
        if diagnostic not in DIAGNOSTICS:
            raise ValueError(f"DiagnosticsCallback: diagnostic={diagnostic!r} is not one of {DIAGNOSTICS}")
        if every_n_steps < 0:
            raise ValueError("DiagnosticsCallback: every_n_steps must be >= 0")
        self.diagnostic, self.every_n_steps = diagnostic, every_n_steps
        self.at_start, self.at_end, self.out_dir = at_start, at_end, out_dir
        self.options = DiagnosticOptions(
            data=list(data or []), tasks=list(tasks or []), limit=limit, batch_size=batch_size, seed=seed,
            max_length=max_length, num_distractors=num_distractors, k=k, n=n, temperature=temperature,
            max_new_tokens=max_new_tokens,
        )
        self._inputs = None
        self._last_step: int | None = None
        self.last_result: DiagnosticResult | None = None

    # -- hooks ----------------------------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_start:
            self.run(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        # With gradient accumulation several batches end on the same step: run once.
        if self.every_n_steps and step > 0 and step % self.every_n_steps == 0 and step != self._last_step:
            self.run(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_end and trainer.global_step != self._last_step:
            self.run(trainer, pl_module)

    # -- running ----------------------------------------------------------------------------
    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> DiagnosticResult:
        step = trainer.global_step
        self._last_step = step
        if self._inputs is None:
            self._inputs = prepare_inputs(self.diagnostic, self.options)
        model = pl_module.model
        was_training = model.training
        start = time.perf_counter()
        try:
            result = run_diagnostic(self.diagnostic, model, pl_module.tokenizer, self._inputs, self.options,
                                    all_finished=self._all_finished(pl_module))
        finally:
            model.train(was_training)
        seconds = time.perf_counter() - start
        self.last_result = result
        if trainer.is_global_zero:
            scalars = {**result.scalars(), f"diagnostics/{result.name}/seconds": seconds}
            for logger in trainer.loggers:
                logger.log_metrics(scalars, step=step)
            folder = self._folder(trainer, step)
            if folder is not None:
                result.save(folder)
            log.info("diagnostic %s at step %d took %.1fs", result.name, step, seconds)
        return result

    def _folder(self, trainer: L.Trainer, step: int) -> Path | None:
        root = self.out_dir or (Path(trainer.log_dir) / "diagnostics" if trainer.log_dir else None)
        return None if root is None else Path(root) / f"step-{step:06d}"

    @staticmethod
    def _all_finished(pl_module: L.LightningModule):
        """Under several ranks, a row-finished decision taken jointly (MIN over ranks)."""
        if _world_size() == 1:
            return None

        def all_finished(local_done: bool) -> bool:
            flag = torch.tensor([1.0 if local_done else 0.0], device=pl_module.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            return bool(flag.item() == 1.0)

        return all_finished
