"""Peak memory of a few real training steps on CPU, for checking the planner.

Measures the resident set size (RSS) of this process every 0.2 ms from the start of
training: the delta over the RSS at ``on_train_start`` (model and data already loaded) is
what the steps add: gradients, optimizer state, activations and logits. The planner's
figure for the same components is the comparison.

By hand (SmolLM2, a one-off; about a minute each), with glibc's mmap threshold fixed so
that freed tensors leave the RSS (see tests/ops/test_plan.py):
    MALLOC_MMAP_THRESHOLD_=65536 python tests/ops/memory_probe.py smollm2-135m 128 4 [ckpt]
Measured (2 CPU threads, fp32, 4 x 128 tokens): 2.56 GB without activation checkpointing
(planned 2.69 GB, ratio 0.95), 1.86 GB with it (planned 1.96 GB, ratio 0.95).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import lightning as L
import psutil
import torch


class PeakRSS(L.Callback):
    def __init__(self, warmup_shape: tuple[int, int] | None = None) -> None:
        self.baseline = self.peak = 0
        self.warmup_shape = warmup_shape
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _warm_up(self, model) -> None:
        rows, seq = self.warmup_shape
        ids = torch.randint(0, model.config.vocab_size, (rows, seq))
        half = seq // 2  # two packed documents per row, as the data module makes them
        positions = torch.cat([torch.arange(half), torch.arange(seq - half)]).repeat(rows, 1)
        model(input_ids=ids, labels=ids, position_ids=positions, use_cache=False).loss.backward()
        model.zero_grad(set_to_none=True)

    def on_train_start(self, trainer, pl_module) -> None:
        if self.warmup_shape:
            self._warm_up(pl_module.model)
        process = psutil.Process()
        self.baseline = self.peak = process.memory_info().rss

        def sample() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, process.memory_info().rss)
                time.sleep(0.0002)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def on_train_end(self, trainer, pl_module) -> None:
        self._stop.set()
        self._thread.join()


def measure(name_or_path: str, seq_len: int, batch: int, steps: int = 3, checkpointing: bool = False,
            root: str = ".") -> dict:
    from mist_pl.data.datamodule import MixtureDataModule
    from mist_pl.models.factory import ModelConfig
    from mist_pl.modules.causal_lm import CausalLMModule
    from mist_pl.modules.optim import OptimConfig

    sys.path.insert(0, str(Path(__file__).parent))
    from ops_helpers import write_mix

    torch.set_num_threads(1)
    module = CausalLMModule(lm=ModelConfig(name_or_path=name_or_path, gradient_checkpointing=checkpointing),
                            optim=OptimConfig(lr=1e-4, schedule="constant"))
    mix = write_mix(Path(root) / "probe_mix.yaml")
    data = MixtureDataModule(str(mix), tokenizer=module.tokenizer, seq_len=seq_len, batch_size=batch,
                             log_mixture_every_n_batches=0)
    probe = PeakRSS(warmup_shape=(batch, seq_len))
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        num_sanity_val_steps=0, callbacks=[probe], default_root_dir=root)
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    return {"model": name_or_path, "seq_len": seq_len, "batch": batch, "steps": steps, "checkpointing": checkpointing,
            "delta_bytes": probe.peak - probe.baseline, "seconds": time.perf_counter() - start}


def planned(name_or_path: str, seq_len: int, batch: int, checkpointing: bool) -> float:
    """The planner's bytes for what training adds on one CPU process (fp32, no sharding):
    everything but the parameters, which the baseline already holds."""
    from mist_pl.planning.dims import resolve_dims
    from mist_pl.planning.memory import plan_memory
    from mist_pl.planning.workload import Workload

    dims = resolve_dims(name_or_path)
    work = Workload(stage="cpt", name_or_path=name_or_path, seq_len=seq_len, micro_batch=batch, accumulate=1,
                    max_steps=1, precision="32-true", master_dtype="float32", optimizer="adamw",
                    checkpointing=checkpointing, attention="sdpa")
    plan = plan_memory(dims, work, world=1, attention="sdpa", overhead_gb=0)
    return plan.total - plan.components["parameters (sharded)"]


if __name__ == "__main__":
    name, seq, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ckpt = len(sys.argv) > 4 and sys.argv[4] == "ckpt"
    result = measure(name, seq, rows, checkpointing=ckpt, root="/tmp")
    result["planned_bytes"] = planned(name, seq, rows, ckpt)
    result["measured/planned"] = result["delta_bytes"] / result["planned_bytes"]
    print(json.dumps(result, indent=2))
