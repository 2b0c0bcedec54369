"""bitsandbytes 8-bit AdamW inside the module (optim.name=adamw8bit) trains on CPU."""

import lightning as L
import torch
from cpt_helpers import RecordLosses, quiet_trainer

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.modules.causal_lm import CausalLMModule
from mist_pl.modules.optim import OptimConfig


def test_adamw8bit_trains_with_uint8_state(tmp_path, mix_file):
    L.seed_everything(0, verbose=False)
    module = CausalLMModule(optim=OptimConfig(name="adamw8bit", lr=3e-3, schedule="constant"))
    record = RecordLosses()
    trainer = quiet_trainer(tmp_path, max_steps=15, callbacks=[record], gradient_clip_val=1.0)
    trainer.fit(module, datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=4))

    optimizer = trainer.optimizers[0]
    assert type(optimizer).__name__ == "AdamW8bit"
    assert len(record.losses) == 15
    assert sum(record.losses[-3:]) / 3 < sum(record.losses[:3]) / 3 - 1.0, record.losses
    # Both moments of every large matrix are stored in 8 bits (bitsandbytes keeps tensors
    # under 4096 elements, e.g. norm scales, in fp32).
    embed = module.model.get_input_embeddings().weight
    state = optimizer.state[embed]
    assert state["state1"].dtype == torch.uint8 and state["state2"].dtype == torch.uint8
    assert state["state1"].shape == embed.shape
    large = [p for p in module.model.parameters() if p.numel() >= 4096]
    assert all(optimizer.state[p]["state1"].dtype == torch.uint8 for p in large)
