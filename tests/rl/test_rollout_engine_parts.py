"""The parts of ``sampling.engine: vllm`` that need no vLLM, so they run in every
environment: the weights an engine is given (LoRA merged, tied head included, names as
a plain model has them), the truncated importance weights of the sampler-trainer gap,
the surrogate they scale, the planner's count of the engine's memory and the start-up
error without vLLM. The engine itself: tests/rl/test_vllm_engine.py."""

import copy
import math

import pytest
import torch

from mist_pl.models.factory import ModelConfig
from mist_pl.models.lora import LoraConfig, apply_lora
from mist_pl.planning.dims import resolve_dims
from mist_pl.planning.memory import phase_components
from mist_pl.planning.workload import workload_from_recipe
from mist_pl.rl.config import GRPOConfig
from mist_pl.rl.engine_weights import policy_tensors
from mist_pl.rl.losses import grpo_loss
from mist_pl.rl.mismatch import importance_weights
from mist_pl.rl.sampling import SamplingConfig


def test_engine_weights_are_the_plain_models_with_the_tied_head(tokenizer, tiny_model):
    pushed = dict(policy_tensors(tiny_model, torch.bfloat16))
    plain = tiny_model.state_dict()
    assert tiny_model.config.tie_word_embeddings
    # Every weight, under its checkpoint name; the tied head too (vLLM keeps a stale head without it).
    assert set(pushed) == set(plain) and "lm_head.weight" in pushed
    for name, tensor in pushed.items():
        assert tensor.dtype == torch.bfloat16 and torch.equal(tensor, plain[name].to(torch.bfloat16)), name


def test_lora_weights_reach_the_engine_merged_under_plain_names(tokenizer, tiny_model):
    pytest.importorskip("peft", reason="the lora extra (pip install 'mist-pl[lora]')")
    policy = apply_lora(copy.deepcopy(tiny_model), LoraConfig(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():  # adapters that change something (peft starts B at 0)
        for name, param in policy.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.1)
    pushed = dict(policy_tensors(policy))
    merged = copy.deepcopy(policy).merge_and_unload().state_dict()
    assert set(pushed) == set(merged) == set(tiny_model.state_dict())
    assert not any("lora" in name or "base_layer" in name for name in pushed)
    for name, tensor in pushed.items():
        torch.testing.assert_close(tensor, merged[name], rtol=0, atol=1e-6, msg=name)
    q_proj = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(pushed[q_proj], tiny_model.state_dict()[q_proj])  # the update is in
    # The policy keeps its adapters unmerged: training goes on as before.
    assert any("lora_A" in name for name, _ in policy.named_parameters())


OLD = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -3.0]])
SAMPLER = torch.tensor([[-1.0, -3.0, -0.25], [-0.5, -1.0, -9.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def test_token_truncation_caps_each_weight_and_measures_the_gap():
    weights, stats = importance_weights(OLD, SAMPLER, MASK, "token_truncate", cap=2.0)
    expected = torch.tensor([[1.0, 2.0, math.exp(-0.25)], [math.exp(-0.5), 1.0, 1.0]])  # e^1 capped; padding 1
    torch.testing.assert_close(weights, expected)
    assert stats.tokens == 5 and stats.changed == 1
    assert stats.abs_diff == pytest.approx(0 + 1 + 0.25 + 0.5 + 0) and stats.max_abs_diff == 1.0
    k3 = sum(math.exp(d) - d - 1 for d in (0.0, 1.0, -0.25, -0.5, 0.0))  # KL(q || p_old) terms
    assert stats.kl == pytest.approx(k3)


def test_masking_and_sequence_level_weights():
    weights, stats = importance_weights(OLD, SAMPLER, MASK, "token_mask", cap=2.0)
    assert weights[0, 1] == 0 and stats.changed == 1  # the token over the cap leaves the gradient
    weights, _ = importance_weights(OLD, SAMPLER, MASK, "sequence_truncate", cap=2.0)
    # row 0: exp(0 + 1 - 0.25) = 2.12 -> 2 on every token; row 1: exp(-0.5) on its real tokens
    torch.testing.assert_close(weights[0], torch.full((3,), 2.0))
    torch.testing.assert_close(weights[1, :2], torch.full((2,), math.exp(-0.5)))
    weights, _ = importance_weights(OLD, SAMPLER, MASK, "sequence_mask", cap=2.0)
    assert torch.equal(weights[0], torch.zeros(3))
    weights, stats = importance_weights(OLD, SAMPLER, MASK, "none", cap=2.0)
    assert torch.equal(weights, torch.ones(2, 3)) and stats.changed == 0 and stats.max_abs_diff == 1.0


def test_importance_weights_scale_the_surrogate_not_the_kl():
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    ref = torch.tensor([[-1.5, -1.0]])
    weights = torch.full((1, 2), 0.5)
    is_weights = torch.tensor([[2.0, 1.0]])
    plain, _ = grpo_loss(logp, logp.detach(), torch.tensor([1.0]), weights, 0.2, 0.2)
    corrected, _ = grpo_loss(logp, logp.detach(), torch.tensor([1.0]), weights, 0.2, 0.2, pg_weights=is_weights)
    assert float(plain.detach()) == -1.0 and float(corrected.detach()) == -1.5  # -(1 * 0.5 * 2 + 1 * 0.5 * 1)
    kl_only, _ = grpo_loss(logp, logp.detach(), torch.tensor([0.0]), weights, 0.2, 0.2, 0.1, ref)
    kl_weighted, _ = grpo_loss(logp, logp.detach(), torch.tensor([0.0]), weights, 0.2, 0.2, 0.1, ref,
                               pg_weights=is_weights)
    assert float(kl_weighted.detach()) == float(kl_only.detach())


def test_correction_settings_fail_naming_the_field():
    assert GRPOConfig().sampler_is_mode == "token_truncate" and GRPOConfig().sampler_is_cap == 2.0
    with pytest.raises(ValueError, match="grpo.sampler_is_mode='tis'"):
        GRPOConfig(sampler_is_mode="tis")
    with pytest.raises(ValueError, match="grpo.sampler_is_cap=0.5"):
        GRPOConfig(sampler_is_cap=0.5)
    for field, value in (("vllm_gpu_memory_utilization", 1.5), ("vllm_cpu_kv_cache_gb", 0),
                         ("vllm_max_model_len", 8)):
        with pytest.raises(ValueError, match=f"sampling.{field}="):
            SamplingConfig(engine="vllm", max_new_tokens=16, **{field: value})


def _grpo_recipe(folder, sampling: dict) -> dict:
    return {"trainer": {"max_steps": 10, "precision": "bf16-mixed"},
            "model": {"class_path": "mist_pl.modules.grpo.GRPOModule",
                      "init_args": {"lm": {"name_or_path": str(folder), "dtype": "bfloat16"},
                                    "grpo": {"prompts_per_round": 4, "num_generations": 8, "micro_batch_size": 8},
                                    "sampling": {"max_new_tokens": 512, **sampling}}},
            "data": {"init_args": {"max_prompt_tokens": 256}}}


def test_the_planner_counts_the_engines_share_of_the_gpu(tmp_path, tiny_model):
    tiny_model.config.save_pretrained(tmp_path)
    dims = resolve_dims(str(tmp_path))
    gpu = 80e9
    hf = phase_components(dims, workload_from_recipe(_grpo_recipe(tmp_path, {})), 8, gpu_mem_bytes=gpu)
    awake = phase_components(dims, workload_from_recipe(_grpo_recipe(
        tmp_path, {"engine": "vllm", "vllm_gpu_memory_utilization": 0.4, "vllm_sleep": False})), 8, gpu_mem_bytes=gpu)
    asleep = phase_components(dims, workload_from_recipe(_grpo_recipe(
        tmp_path, {"engine": "vllm", "vllm_gpu_memory_utilization": 0.4})), 8, gpu_mem_bytes=gpu)
    assert "KV cache of the round" in hf["sampling"] and "vLLM engine (its memory share)" not in hf["sampling"]
    for plan in (awake, asleep):
        assert plan["sampling"]["vLLM engine (its memory share)"] == 0.4 * gpu
        assert "KV cache of the round" not in plan["sampling"]  # inside the engine's share
    assert awake["training"]["vLLM engine (awake while training)"] == 0.4 * gpu
    assert "vLLM engine (awake while training)" not in asleep["training"]  # sleeping: memory given back
    # The engine's log-probs are stored with the rollouts.
    assert asleep["training"]["stored rollouts and log-probs"] > hf["training"]["stored rollouts and log-probs"]


def test_without_vllm_the_engine_fails_at_start_up_naming_field_and_extra(monkeypatch):
    import mist_pl.rl.vllm_engine
    from mist_pl.modules.grpo import GRPOModule

    # As where vLLM is not installed (require_vllm looks the check up in its module).
    monkeypatch.setattr(mist_pl.rl.vllm_engine, "vllm_installed", lambda: False)
    with pytest.raises(ImportError, match=r"sampling.engine='vllm' needs vLLM.*mist-pl\[vllm-cpu\]"):
        GRPOModule(sampling=SamplingConfig(engine="vllm"), rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}])


def test_qlora_cannot_feed_the_engine():
    from mist_pl.modules.grpo import GRPOModule

    with pytest.raises(ValueError, match="sampling.engine='vllm' with lm.lora.quantize_4bit"):
        GRPOModule(lm=ModelConfig(lora=LoraConfig(quantize_4bit=True)), sampling=SamplingConfig(engine="vllm"),
                   rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}])
