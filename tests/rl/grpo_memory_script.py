"""Peak resident memory of GRPO training steps on two gloo ranks under FSDP2
(ModelParallelStrategy), with gradients reduce-scattered after every micro-batch or
deferred to the last one; compared with ``python -m mist_pl.plan`` by test_grpo_memory.py.

    python grpo_memory_script.py <model folder> <out_dir> <defer: 0|1>

The model folder holds a parameter-heavy, small-vocabulary Qwen2 (made by the test) so
gradients and optimizer state dominate and the two settings are far apart. Each rank
writes the peak RSS (VmHWM, reset at on_train_start, when the sharded model exists and
nothing of training does) minus the RSS at that moment.
"""

import json
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

import lightning as L  # noqa: E402
from lightning.pytorch.strategies import ModelParallelStrategy  # noqa: E402

from mist_pl.data.rl_prompts import PromptDataModule  # noqa: E402
from mist_pl.models.factory import ModelConfig  # noqa: E402
from mist_pl.modules.grpo import GRPOModule  # noqa: E402
from mist_pl.modules.optim import OptimConfig  # noqa: E402
from mist_pl.rl.config import GRPOConfig  # noqa: E402
from mist_pl.rl.sampling import SamplingConfig  # noqa: E402

GRPO = dict(prompts_per_round=2, num_generations=4, micro_batch_size=2, beta=0.0, reward_runner="thread")
SAMPLING = dict(max_new_tokens=8, stop_strings=[], unshard_for_generation=False)


def same_long_prompts() -> list[dict]:
    """Every prompt the same: its length is the planner's prompt length, exactly."""
    return [{"prompt": "Write a chain of carbon atoms: " + " ".join(["carbon"] * 24), "task": "toy"}] * 16


def status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


class PeakRSS(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        Path("/proc/self/clear_refs").write_text("5")
        self.baseline = status_bytes("VmRSS")
        self.prompt_tokens = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.prompt_tokens = max(self.prompt_tokens, int(batch["attention_mask"].sum(-1).max()))

    def on_train_end(self, trainer, pl_module) -> None:
        self.delta = status_bytes("VmHWM") - self.baseline


def main(folder: str, out: str, defer: bool) -> None:
    L.seed_everything(0, verbose=False)
    module = GRPOModule(lm=ModelConfig(name_or_path=folder), optim=OptimConfig(lr=1e-4, schedule="constant"),
                        grpo=GRPOConfig(**GRPO, defer_grad_sync=defer), sampling=SamplingConfig(**SAMPLING),
                        rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}])
    data = PromptDataModule(examples_fn="grpo_memory_script.same_long_prompts", batch_size=GRPO["prompts_per_round"])
    probe = PeakRSS()
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy=ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1),
                        max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=out, callbacks=[probe])
    trainer.fit(module, datamodule=data)
    Path(out, f"rank{trainer.global_rank}.json").write_text(
        json.dumps({"delta_bytes": probe.delta, "prompt_tokens": probe.prompt_tokens}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] == "1")
