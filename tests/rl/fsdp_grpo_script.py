"""Two CPU processes (gloo), FSDP2 via ModelParallelStrategy: a few GRPO rounds.

Run by test_fsdp.py in a subprocess (Lightning relaunches this script for rank 1).
Ranks decode different prompts, so their completions end at different steps: the
joint stop decision and the dummy-row decoding are what keep the collectives aligned.
"""

import os
import sys

import torch

torch.set_num_threads(1)
os.environ.setdefault("MIST_PL_REWARD_RUNNER", "thread")

import lightning as L  # noqa: E402
from lightning.pytorch.strategies import ModelParallelStrategy  # noqa: E402

from mist_pl.data.rl_prompts import PromptDataModule  # noqa: E402
from mist_pl.models.factory import ModelConfig  # noqa: E402
from mist_pl.modules.grpo import GRPOModule  # noqa: E402
from mist_pl.modules.optim import OptimConfig  # noqa: E402
from mist_pl.rl.config import GRPOConfig  # noqa: E402
from mist_pl.rl.sampling import SamplingConfig  # noqa: E402


def main(root: str) -> None:
    L.seed_everything(0, verbose=False)
    module = GRPOModule(
        lm=ModelConfig(),
        optim=OptimConfig(lr=1e-3, schedule="constant"),
        grpo=GRPOConfig(prompts_per_round=2, num_generations=4, micro_batch_size=4, steps_per_round=2, beta=0.04,
                        reward_runner="thread", ref_refresh_steps=2),
        # stop on a common character so ranks finish at different steps
        sampling=SamplingConfig(max_new_tokens=10, stop_strings=["C"]),
        rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}],
    )
    data = PromptDataModule(examples_fn="mist_pl.rl.toy.toy_examples", batch_size=2)
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy=ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1),
        max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=root,
    )
    trainer.fit(module, datamodule=data)
    from torch.distributed.tensor import DTensor

    assert isinstance(next(module.model.parameters()), DTensor), "policy is not sharded"
    assert isinstance(next(module.reference.parameters()), DTensor), "reference is not sharded"
    # refreshed at step 4 (ref_refresh_steps=2): shard-to-shard copy of the policy
    for p, q in zip(module.model.parameters(), module.reference.parameters()):
        assert torch.equal(p.to_local(), q.to_local()), "reference refresh failed"
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if trainer.is_global_zero:
        print(f"FSDP-GRPO-OK steps={trainer.global_step} kl={metrics['train/kl']:.6f} reward={metrics['reward/mean']:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
