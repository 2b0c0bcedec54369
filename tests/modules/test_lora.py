"""LoRA adapters (peft) train on CPU with everything else frozen; QLoRA asks for a GPU."""

from pathlib import Path

import lightning as L
import pytest
import torch
from cpt_helpers import RecordLosses, model_weights, quiet_trainer, random_batch

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.export import export
from mist_pl.models.factory import ModelConfig
from mist_pl.models.lora import LoraConfig
from mist_pl.modules.causal_lm import CausalLMModule
from mist_pl.modules.optim import OptimConfig

pytest.importorskip("peft")

LORA = LoraConfig(r=8, alpha=16, dropout=0.0)


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, mix_file):
    L.seed_everything(0, verbose=False)
    # Activation checkpointing on purpose: backward must reach adapters through frozen layers.
    module = CausalLMModule(lm=ModelConfig(lora=LORA, gradient_checkpointing=True),
                            optim=OptimConfig(lr=1e-2, schedule="constant"))
    module.configure_model()
    before = model_weights(module)
    record = RecordLosses()
    root = tmp_path_factory.mktemp("lora")
    trainer = quiet_trainer(root, max_steps=12, callbacks=[record])
    trainer.fit(module, datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=4))
    trainer.save_checkpoint(root / "lora.ckpt")
    module.eval()
    return module, before, record.losses, root / "lora.ckpt", trainer


def test_only_adapters_train(lora_run):
    module, before, losses, _, trainer = lora_run
    trainable = [n for n, p in module.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    total = sum(p.numel() for p in module.model.parameters())
    assert sum(p.numel() for n, p in module.model.named_parameters() if p.requires_grad) < 0.2 * total
    optimized = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}
    assert optimized == {id(p) for p in module.model.parameters() if p.requires_grad}

    after = model_weights(module)
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all("lora_" in k for k in changed)
    assert any("lora_B" in k for k in changed)  # B starts at zero: it moved, so adapters learned
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses


def test_lora_checkpoint_exports_merged(lora_run, tmp_path):
    from transformers import AutoModelForCausalLM

    module, _, _, ckpt, _ = lora_run
    exported = AutoModelForCausalLM.from_pretrained(export(ckpt, tmp_path / "hf")).eval()
    assert not any("lora" in k for k in exported.state_dict())
    batch = random_batch(len(module.tokenizer), batch=1, seq_len=24)
    with torch.no_grad():
        expected = module.model(input_ids=batch["input_ids"]).logits
        merged = exported(input_ids=batch["input_ids"]).logits
    assert torch.allclose(merged, expected, atol=1e-4, rtol=1e-4)


def test_plain_module_starts_from_a_lora_checkpoint(lora_run):
    module, _, _, ckpt, _ = lora_run
    plain = CausalLMModule(init_from_ckpt=str(ckpt))
    plain.configure_model()
    batch = random_batch(len(module.tokenizer), batch=1, seq_len=24)
    with torch.no_grad():
        assert torch.allclose(plain.model.eval()(input_ids=batch["input_ids"]).logits,
                              module.model(input_ids=batch["input_ids"]).logits, atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU error")
def test_qlora_on_cpu_fails_before_training(tmp_path, mix_file):
    module = CausalLMModule(lm=ModelConfig(lora=LoraConfig(quantize_4bit=True)))
    trainer = quiet_trainer(tmp_path, max_steps=1)
    with pytest.raises(RuntimeError, match=r"quantize_4bit=true \(QLoRA\) needs a CUDA GPU"):
        trainer.fit(module, datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=2))
    assert module.model is None  # refused before any weight was allocated


@pytest.mark.parametrize("kwargs", [{"r": 0}, {"dropout": 1.0}, {"target_modules": []}])
def test_bad_lora_settings_name_the_field(kwargs):
    with pytest.raises(ValueError, match="lm.lora"):
        LoraConfig(**kwargs)


def test_lora_is_configurable_from_the_cli(capsys):
    import yaml

    from mist_pl.cli import main

    with pytest.raises(SystemExit):
        main(["fit", "--config", str(Path(__file__).resolve().parents[2] / "conf/tiny/cpt.yaml"),
              "--model.init_args.lm.lora.r=4", "--model.init_args.lm.lora.target_modules=[q_proj,v_proj]",
              "--print_config"])
    lora = yaml.safe_load(capsys.readouterr().out)["model"]["init_args"]["lm"]["lora"]
    assert lora["r"] == 4 and lora["target_modules"] == ["q_proj", "v_proj"] and lora["quantize_4bit"] is False
