"""The GRPO reference model: one base copy with LoRA (adapters disabled), out of
checkpoints unless refreshed (a resumed run rebuilds it from the starting weights), and
on the policy's device and dtype even though it is not a registered submodule."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from mist_pl.data.rl_prompts import PromptDataModule
from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.models.lora import LoraConfig
from mist_pl.modules.grpo import GRPOModule
from mist_pl.modules.optim import OptimConfig
from mist_pl.rl.config import GRPOConfig
from mist_pl.rl.sampling import SamplingConfig

REWARDS = [{"fn": "mist_pl.rl.toy.carbon_reward"}]


def grpo_module(lm: ModelConfig, **grpo) -> GRPOModule:
    config = {"prompts_per_round": 2, "num_generations": 4, "micro_batch_size": 4, "beta": 0.04,
              "reward_runner": "thread", **grpo}
    return GRPOModule(lm=lm, optim=OptimConfig(lr=1e-2, schedule="constant"), grpo=GRPOConfig(**config),
                      sampling=SamplingConfig(max_new_tokens=6), rewards=REWARDS)


class Rounds(L.Callback):
    """The logged metrics of every round (one training_step each)."""

    def __init__(self) -> None:
        self.metrics: list[dict] = []

    def on_train_batch_end(self, trainer, *args) -> None:
        self.metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def fit(module, root, steps, precision="32-true", callbacks=(), ckpt_path=None) -> list[dict]:
    """Fit on the toy task; the metrics of each round."""
    L.seed_everything(0, verbose=False)
    rounds = Rounds()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, precision=precision, logger=False,
                        enable_checkpointing=bool(callbacks), callbacks=[rounds, *callbacks], enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=str(root))
    trainer.fit(module, datamodule=PromptDataModule(examples_fn="mist_pl.rl.toy.toy_examples", batch_size=2, seed=0),
                ckpt_path=ckpt_path)
    return rounds.metrics


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    config = ModelConfig()
    tokenizer = build_tokenizer(config)
    torch.manual_seed(0)
    build_model(config, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_lora_reference_is_the_base_with_adapters_disabled(tmp_path, tiny_folder):
    pytest.importorskip("peft")
    module = grpo_module(ModelConfig(name_or_path=tiny_folder, lora=LoraConfig(r=4, alpha=8, dropout=0.0)))
    first, second = fit(module, tmp_path, steps=2)
    assert module.reference is None and module.reference_is_base
    # One base copy in the whole module: every frozen tensor belongs to the policy's base.
    base = sum(p.numel() for p in module.model.parameters() if not p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    plain = build_model(ModelConfig(name_or_path=tiny_folder), module.tokenizer)
    assert frozen == base == sum(p.numel() for p in plain.parameters())
    assert first["train/first_step_kl"] == 0.0 and first["train/logprob_gap_ref_max"] == 0.0
    assert second["train/kl"] > 0  # after an update the adapters have moved away from the base


def test_lora_reference_cannot_be_refreshed(tiny_folder):
    pytest.importorskip("peft")
    with pytest.raises(ValueError, match="ref_refresh_steps=2 with lm.lora"):
        grpo_module(ModelConfig(name_or_path=tiny_folder, lora=LoraConfig(r=4)), ref_refresh_steps=2)


def test_reference_stays_out_of_checkpoints_and_is_rebuilt_on_resume(tmp_path, tiny_folder):
    lm = ModelConfig(name_or_path=tiny_folder)
    module = grpo_module(lm)
    fit(module, tmp_path, steps=2, callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)])
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)["state_dict"]
    assert any(k.startswith("model.") for k in saved) and not any(k.startswith("reference.") for k in saved)

    resumed = grpo_module(lm)
    fit(resumed, tmp_path / "resumed", steps=3, ckpt_path=str(tmp_path / "last.ckpt"))
    starting = build_model(lm, resumed.tokenizer).state_dict()
    for name, tensor in resumed.reference.state_dict().items():
        assert torch.equal(tensor, starting[name]), name  # the starting weights, not the trained ones

    refreshed = grpo_module(lm, ref_refresh_steps=2)
    fit(refreshed, tmp_path / "refreshed", steps=2, callbacks=[ModelCheckpoint(dirpath=tmp_path / "r", save_last=True)])
    saved = torch.load(tmp_path / "r" / "last.ckpt", weights_only=True)["state_dict"]
    assert any(k.startswith("reference.") for k in saved)  # training changes it: it is state


def test_unregistered_reference_follows_the_policys_precision(tmp_path):
    module = grpo_module(ModelConfig())
    (metrics,) = fit(module, tmp_path, steps=1, precision="bf16-true")
    assert {p.dtype for p in module.reference.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in module.model.parameters()} == {torch.bfloat16}
    assert metrics["train/first_step_kl"] == 0.0
