"""Two CPU processes (gloo), FSDP2 via ModelParallelStrategy: a few CPT steps, then a
sharded checkpoint and, from rank 0, the full (gathered) weights to compare it with.

Run by test_fsdp_checkpoint.py in a subprocess (Lightning relaunches this script for rank 1):
    python fsdp_cpt_script.py <mixture.yaml> <output folder>
"""

import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

import lightning as L  # noqa: E402
from lightning.pytorch.strategies import ModelParallelStrategy  # noqa: E402
from torch.distributed.tensor import DTensor  # noqa: E402

from mist_pl.data.datamodule import MixtureDataModule  # noqa: E402
from mist_pl.modules.causal_lm import CausalLMModule  # noqa: E402
from mist_pl.modules.optim import OptimConfig  # noqa: E402


class Losses(L.Callback):
    def __init__(self) -> None:
        self.values: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.values.append(float(outputs["loss"]))


def main(mix: str, root: str) -> None:
    out = Path(root)
    L.seed_everything(0, verbose=False)
    module = CausalLMModule(optim=OptimConfig(lr=3e-3, schedule="constant"))
    data = MixtureDataModule(mix, seq_len=64, batch_size=2)
    losses = Losses()
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy=ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1),
        max_steps=6, gradient_clip_val=1.0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=root, callbacks=[losses],
    )
    trainer.fit(module, datamodule=data)
    assert isinstance(next(module.model.parameters()), DTensor), "model is not sharded"
    trainer.save_checkpoint(out / "sharded.ckpt")  # ModelParallelStrategy writes a folder
    # Gathering is a collective: every rank calls full_tensor(), rank 0 writes.
    full = {k: v.full_tensor() if isinstance(v, DTensor) else v for k, v in module.model.state_dict().items()}
    if trainer.is_global_zero:
        torch.save({k: v.detach().cpu() for k, v in full.items()}, out / "full_weights.pt")
        print(f"FSDP-CPT-OK steps={trainer.global_step} first={losses.values[0]:.4f} last={losses.values[-1]:.4f} "
              f"grad_norm={float(trainer.callback_metrics['train/grad_norm']):.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
