"""Policy, old and reference log-probs through one computation: in bf16 (CPU autocast),
with activation checkpointing on and off and identical weights, the round's first
optimizer step sees a KL of exactly 0 and a ratio of exactly 1.

bf16 results depend on the forward path (prompt shared per group or not) and on a
micro-batch's padded width, by up to ~1e-2 per token; before the module pinned both, the
step-0 KL here was ~4e-7 and the ratio 0.99996 (see mist_pl/modules/grpo.py)."""

import warnings

import lightning as L
import pytest
import torch

from mist_pl.data.rl_prompts import PromptDataModule
from mist_pl.models.factory import ModelConfig, build_model
from mist_pl.modules.grpo import GRPOModule
from mist_pl.modules.optim import OptimConfig
from mist_pl.rl.config import GRPOConfig
from mist_pl.rl.forward import activation_checkpointing, continuation_logits, shares_prompts
from mist_pl.rl.sampling import SamplingConfig


class FirstStep:
    """Sums of the loss statistics over the micro-batches of the first optimizer step."""

    def __init__(self, micro_batches: int) -> None:
        self.left = micro_batches
        self.kl = self.ratio = self.tokens = 0.0

    def wrap(self, real):
        def micro_batch_loss(module, micro, step_tokens, step_sequences):
            loss, stats, entropy = real(module, micro, step_tokens, step_sequences)
            if self.left > 0:
                self.left -= 1
                self.kl += stats.kl
                self.ratio += stats.ratio
                self.tokens += stats.tokens
            return loss, stats, entropy

        return micro_batch_loss


@pytest.mark.parametrize("checkpointing", [False, True])
def test_step_zero_kl_is_zero_and_ratio_is_one_in_bf16(tmp_path, monkeypatch, checkpointing):
    L.seed_everything(0, verbose=False)
    grpo = GRPOConfig(prompts_per_round=4, num_generations=8, micro_batch_size=16, num_iterations=2, beta=0.04,
                      reward_runner="thread")  # two groups per micro-batch; old and reference log-probs stored
    first = FirstStep(grpo.grad_accum_steps)
    monkeypatch.setattr(GRPOModule, "micro_batch_loss", first.wrap(GRPOModule.micro_batch_loss))
    module = GRPOModule(lm=ModelConfig(gradient_checkpointing=checkpointing),
                        optim=OptimConfig(lr=1e-3, schedule="constant"), grpo=grpo,
                        sampling=SamplingConfig(max_new_tokens=12), rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}])
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=2, precision="bf16-mixed", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=str(tmp_path))
    trainer.fit(module, datamodule=PromptDataModule(examples_fn="mist_pl.rl.toy.toy_examples", batch_size=4, seed=0))

    assert activation_checkpointing(module.model) is checkpointing
    assert first.tokens > 0 and first.left == 0
    assert first.kl == 0.0  # k3 of exactly equal log-probs
    assert first.ratio == first.tokens  # every token's ratio exactly 1
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert metrics["train/logprob_gap_old_max"] == 0.0 and metrics["train/logprob_gap_ref_max"] == 0.0
    assert metrics["train/first_step_kl"] == 0.0 and metrics["train/first_step_ratio"] == 1.0
    assert metrics["train/kl"] > 0  # the second step follows an update: the gap is real, and logged


def test_checkpointing_decides_the_path_for_every_forward_and_sharing_is_refused_under_it(tokenizer):
    model = build_model(ModelConfig(gradient_checkpointing=True), tokenizer)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # never the deprecated is_gradient_checkpointing
        assert activation_checkpointing(model) and not shares_prompts(model)
    plain = build_model(ModelConfig(), tokenizer)
    assert shares_prompts(plain) and not shares_prompts(plain, requested=False)
    ids = torch.randint(10, 200, (4, 6))
    args = (ids, torch.ones_like(ids), ids, torch.ones_like(ids), torch.tensor([0, 0, 1, 1]))
    model.train()
    with pytest.raises(ValueError, match="share_prompts=True with activation checkpointing"):
        continuation_logits(model, *args, share_prompts=True)
    model.eval()
    with torch.no_grad():  # scoring (no gradients) may share prompts under any model
        assert continuation_logits(model, *args, share_prompts=True).shape == (4, 6, model.config.vocab_size)




@pytest.mark.parametrize("share_prompts", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_frozen_copy_gives_the_trainable_models_exact_logits(share_prompts, dtype):
    """The GRPO reference is a frozen copy of the policy. torch multiplies a strided input
    by a weight that requires grad through another kernel than by a frozen one; the
    output head's input is such a slice unless positions are gathered by index. Before
    that, three of these four cases failed (SmolLM2-135M in bf16: up to 0.125 per logit,
    a step-0 reference log-prob gap of 1.9e-6 in the GPU smoke script's CPU rehearsal)."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    # SmolLM2's width; weights held in ``dtype`` as FSDP2's bf16 compute copies are (under
    # autocast every step would use a fresh frozen cast and hide the difference).
    config = LlamaConfig(vocab_size=4096, hidden_size=576, intermediate_size=1152, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    policy = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=dtype).eval()
    frozen = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=dtype).eval()
    frozen.requires_grad_(False)
    frozen.load_state_dict(policy.state_dict())
    assert all(p.requires_grad for p in policy.parameters())
    ids = torch.randint(5, 4000, (8, 20))
    prompt_mask = torch.ones(8, 12, dtype=torch.long)
    prompt_mask[:4, :3] = 0  # left padding in one group
    completion_mask = torch.ones(8, 8, dtype=torch.long)
    completion_mask[::2, 5:] = 0  # completions of different lengths
    args = (ids[:, :12], prompt_mask, ids[:, 12:], completion_mask, torch.arange(8) // 4, share_prompts)
    with torch.no_grad():
        trainable = continuation_logits(policy, *args)
        copy = continuation_logits(frozen, *args)
    assert trainable.shape == (8, 8, 4096)
    assert torch.equal(trainable, copy)
