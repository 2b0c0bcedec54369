"""The attention kernel follows the run (the trainer's accelerator and precision, the
weights' dtype) and whether flash-attn is installed, never torch.cuda.is_available():
flash-attention 2 runs only on CUDA in fp16/bf16."""

import importlib.util

import lightning as L
import pytest
import torch

from mist_pl.models import attention
from mist_pl.models.attention import attention_dtype, choose_attention
from mist_pl.modules.causal_lm import CausalLMModule

BF16, FP16, FP32 = torch.bfloat16, torch.float16, torch.float32


@pytest.mark.parametrize(
    "accelerator, precision, weights, installed, expected",
    [
        ("cuda", "bf16-mixed", FP32, True, "flash_attention_2"),
        ("cuda", "bf16-true", FP32, True, "flash_attention_2"),
        ("cuda", "16-mixed", FP32, True, "flash_attention_2"),
        ("cuda", "32-true", BF16, True, "flash_attention_2"),  # bf16 weights compute in bf16
        ("cuda", "32-true", FP32, True, "sdpa"),  # fp32 on a GPU: FA2 has no fp32 kernel
        ("cuda", None, FP32, True, "sdpa"),
        ("cuda", "bf16-mixed", FP32, False, "sdpa"),  # not installed
        ("cpu", "bf16-mixed", FP32, True, "sdpa"),  # a CPU run on a GPU machine
        ("cpu", "32-true", FP32, True, "sdpa"),
        ("mps", "16-mixed", FP32, True, "sdpa"),
    ],
)
def test_auto_selection_table(accelerator, precision, weights, installed, expected):
    backend, reason = choose_attention("auto", accelerator, attention_dtype(precision, weights), installed)
    assert backend == expected, reason


@pytest.mark.parametrize(
    "accelerator, dtype, installed, why",
    [("cpu", BF16, True, "computes on 'cpu'"), ("cuda", FP32, True, "float32"), ("cuda", BF16, False, "not installed")],
)
def test_forced_flash_attention_says_why_it_cannot_run(accelerator, dtype, installed, why):
    with pytest.raises(ValueError, match=why):
        choose_attention("flash_attention_2", accelerator, dtype, installed)
    assert choose_attention("flash_attention_2", "cuda", BF16, True)[0] == "flash_attention_2"
    assert choose_attention("eager", "cuda", BF16, True)[0] == "eager"  # explicit choices stand


def test_a_cpu_run_on_a_gpu_machine_with_flash_attn_uses_sdpa(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the machine has a GPU...
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",  # ...and flash-attn
                        lambda name, *args: object() if name == "flash_attn" else find_spec(name, *args))
    assert attention.flash_attn_installed()
    module = CausalLMModule()
    module.trainer = L.Trainer(accelerator="cpu", devices=1, precision="bf16-mixed", logger=False,
                               default_root_dir=str(tmp_path))  # ...but the run is on the CPU
    module.configure_model()
    assert module.model.config._attn_implementation == "sdpa"
