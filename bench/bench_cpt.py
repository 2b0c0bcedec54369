"""CPT training throughput: mist-pl's CausalLMModule under a Lightning Trainer against a
plain PyTorch loop and against ``transformers``' Trainer. Not a test.

All three get the same model (one initial state dict, loaded by each), the same packed
batches (built once from the tiny chemistry mixture; ``input_ids``, ``labels``,
``position_ids``), the same batch size, number of steps, AdamW settings and gradient
clipping at 1.0. Only steady-state steps are timed (after ``--warmup`` steps), from the
end of the last untimed step to the end of the last step, so start-up (Trainer
construction, model set-up) is left out; it is reported separately for Lightning. Each
runner returns the time at which every step ended; the span and the median step give
two throughputs (the second is robust to other processes stealing the CPU briefly).

The runs are interleaved (round 1: plain, lightning, hf; round 2 rotated; ...) and the
median over rounds is reported, because the development machines are shared and a
single measurement is noisy.

    python bench/bench_cpt.py [--rounds 3] [--steps 30] [--seq-len 128] [--batch-size 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import statistics
import time
import warnings

import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

KEYS = ("input_ids", "labels", "position_ids")  # what every runner feeds the model


def make_batches(seq_len: int, batch_size: int, n: int) -> list[dict[str, torch.Tensor]]:
    from mist_pl.data.datamodule import MixtureDataModule

    data = MixtureDataModule("conf/data/chem_mix_tiny.yaml", seq_len=seq_len, batch_size=batch_size)
    data.setup("fit")
    batches = []
    for batch in data.train_dataloader():
        batches.append({k: batch[k] for k in KEYS})
        if len(batches) == n:
            return batches
    raise RuntimeError(f"the mixture gave only {len(batches)} batches")


def initial_state():
    from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer

    torch.manual_seed(0)
    cfg = ModelConfig()
    model = build_model(cfg, build_tokenizer(cfg))
    return {k: v.clone() for k, v in model.state_dict().items()}


def optim_config():
    from mist_pl.modules.optim import OptimConfig

    return OptimConfig(lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), schedule="cosine", warmup_steps=5)


# ------------------------------------------------------------------------ runners
def run_plain(batches, state, warmup) -> dict:
    """The reference: what the module does per step, written as a bare loop."""
    from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
    from mist_pl.modules.optim import build_optimizer, build_scheduler

    cfg = ModelConfig()
    model = build_model(cfg, build_tokenizer(cfg))
    model.load_state_dict(state)
    model.train()
    optimizer = build_optimizer(model, optim_config())
    scheduler = build_scheduler(optimizer, len(batches), optim_config())
    losses, ends = [], []
    for batch in batches:
        loss = model(**batch, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        ends.append(time.perf_counter())
    return {"ends": ends, "mean_loss": statistics.mean(losses)}


def run_lightning(batches, state, warmup) -> dict:
    import lightning as L
    from torch.utils.data import DataLoader

    from mist_pl.modules.causal_lm import CausalLMModule

    class Clock(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.ends.append(time.perf_counter())
            self.losses.append(float(outputs["loss"]))

    begin = time.perf_counter()
    module = CausalLMModule(optim=optim_config())
    module.configure_model()
    module.model.load_state_dict(state)
    clock = Clock()
    clock.losses, clock.ends = [], []
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=len(batches), gradient_clip_val=1.0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, num_sanity_val_steps=0, callbacks=[clock],
    )
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    total = time.perf_counter() - begin
    startup = total - (clock.ends[-1] - clock.ends[warmup])
    return {"ends": clock.ends, "mean_loss": statistics.mean(clock.losses), "startup": startup}


def run_hf(batches, state, warmup) -> dict:
    from torch.utils.data import IterableDataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer

    class Rows(IterableDataset):
        """The same batches, row by row in order; the Trainer re-batches them identically."""

        def __iter__(self):
            for batch in batches:
                for i in range(batch["input_ids"].shape[0]):
                    yield {k: v[i] for k, v in batch.items()}

    class Clock(TrainerCallback):
        def __init__(self):
            self.ends = []

        def on_step_end(self, args, state_, control, **kwargs):
            self.ends.append(time.perf_counter())

    cfg = ModelConfig()
    model = build_model(cfg, build_tokenizer(cfg))
    model.load_state_dict(state)
    model.config.use_cache = False  # as the module does: packed position_ids need it
    opt = optim_config()
    args = TrainingArguments(
        output_dir=os.path.join(os.environ.get("TMPDIR", "/tmp"), "bench_cpt_hf"),
        per_device_train_batch_size=batches[0]["input_ids"].shape[0], max_steps=len(batches),
        learning_rate=opt.lr, weight_decay=opt.weight_decay, adam_beta1=opt.betas[0], adam_beta2=opt.betas[1],
        adam_epsilon=opt.eps, lr_scheduler_type="cosine", warmup_steps=opt.warmup_steps, max_grad_norm=1.0,
        logging_steps=10_000, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
        dataloader_num_workers=0, seed=0,
    )
    clock = Clock()
    trainer = Trainer(model=model, args=args, train_dataset=Rows(), callbacks=[clock])
    with contextlib.redirect_stdout(io.StringIO()):  # its end-of-training summary line
        result = trainer.train()
    return {"ends": clock.ends, "mean_loss": result.training_loss}


RUNNERS = {"plain": run_plain, "lightning": run_lightning, "hf": run_hf}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="steps per run, warmup included")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 keeps the shared 2-core machines' numbers stable")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")

    batches = make_batches(args.seq_len, args.batch_size, args.steps)
    state = initial_state()
    step_tokens = args.batch_size * args.seq_len
    names = list(RUNNERS)
    # Two measures per run: the whole timed span (every cost in the loop counts) and the
    # median step (robust to other processes stealing the CPU for a moment).
    span: dict[str, list[float]] = {n: [] for n in names}
    step: dict[str, list[float]] = {n: [] for n in names}
    print(f"tiny model, {args.steps} steps ({args.warmup} untimed) of {args.batch_size} x {args.seq_len} tokens, "
          f"{args.threads} thread(s), {args.rounds} interleaved rounds")
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            result = RUNNERS[name](batches, state, args.warmup)
            ends = result["ends"][args.warmup:]
            span[name].append(step_tokens * (len(ends) - 1) / (ends[-1] - ends[0]))
            step[name].append(step_tokens / statistics.median(b - a for a, b in zip(ends, ends[1:])))
            extra = f", start-up {result['startup']:.2f} s" if "startup" in result else ""
            print(f"  round {r + 1} {name:9s} {span[name][-1]:7.0f} tokens/s (median step: {step[name][-1]:7.0f})  "
                  f"mean loss {result['mean_loss']:.3f}{extra}", flush=True)

    def ratio(rates, a, b):
        """Median over rounds of the per-round ratio: runs of one round share the machine's load."""
        return statistics.median(x / y for x, y in zip(rates[a], rates[b]))

    print("\nmedian tokens/s over rounds (span | median step):")
    for n in names:
        print(f"  {n:9s} {statistics.median(span[n]):7.0f} | {statistics.median(step[n]):7.0f}")
    for a, b in (("lightning", "plain"), ("hf", "plain"), ("lightning", "hf")):
        print(f"{a} / {b}: {ratio(span, a, b):.3f} (span) | {ratio(step, a, b):.3f} (median step)")
    overhead = 100 * (1 - ratio(step, "lightning", "plain"))
    print(f"Lightning overhead vs the plain loop: {overhead:+.1f}% (median step; target <= 5%)")


if __name__ == "__main__":
    main()
