"""GRPO step time: mist-pl's GRPOModule against TRL's GRPOTrainer, and sampling speed of
the in-module sampler against ``transformers``' ``generate``. Not a test.

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


def run_mist(folder: Path, steps: int, max_new: int, lr: float, root: Path, kind: str) -> list[float]:
    import lightning as L

    from mist_pl.data.prompts import PromptDataModule
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

    L.seed_everything(0, verbose=False)
    module = GRPOModule(
        lm=ModelConfig(name_or_path=str(folder)),
        optim=OptimConfig(lr=lr, schedule="constant", weight_decay=0.0, betas=(0.9, 0.999)),
        grpo=GRPOConfig(prompts_per_round=P, num_generations=G, micro_batch_size=P * G, beta=0.0,
                        max_grad_norm=1.0, reward_runner="thread"),
        sampling=SamplingConfig(max_new_tokens=max_new, temperature=1.0, stop_strings=[]),
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


def run_trl(folder: Path, steps: int, max_new: int, lr: float, root: Path, kind: str) -> list[float]:
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

    tokenizer = load_tokenizer(str(folder))
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    dataset = Dataset.from_list([{"prompt": p} for p in rendered_prompts(tokenizer, 64, kind)])
    config = GRPOConfig(
        output_dir=str(root / "trl"),
        per_device_train_batch_size=P * G,  # TRL counts completions: P prompts x G
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
    )
    timer = StepTimer()
    trainer = GRPOTrainer(model=model, reward_funcs=carbon_reward_for_trl, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    return timer.times


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per trainer (the first is warm-up)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-3)
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
