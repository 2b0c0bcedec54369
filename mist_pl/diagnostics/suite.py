"""Run any diagnostic by name: the one entry point the CLI and the training callback share.

A diagnostic runs in two steps so a callback can read its data once and score the live
model many times: :func:`prepare_inputs` (files -> molecules / statements / examples)
and :func:`run_diagnostic` (model + inputs -> :class:`DiagnosticResult`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.diagnostics.ccs import run_ccs
from mist_pl.diagnostics.corruption import DEFAULT_FRACTION
from mist_pl.diagnostics.distractors import DEFAULT_NUM_DISTRACTORS
from mist_pl.diagnostics.ls_logprob import DEFAULT_CONTEXT, DEFAULT_MAX_THINK_TOKENS, run_ls_d
from mist_pl.diagnostics.ls_passk import run_ls_passk
from mist_pl.diagnostics.molecules import read_smiles
from mist_pl.diagnostics.report import DiagnosticResult
from mist_pl.diagnostics.scs import DEFAULT_TEMPLATE, run_scs
from mist_pl.diagnostics.statements import default_ccs_files, load_facts
from mist_pl.eval.task_data import DEFAULT_FILES, load_task_examples
from mist_pl.tasks.registry import get_task

DIAGNOSTICS = ("scs", "ccs", "ls_d", "ls_passk")
DEFAULT_SCS_LIMIT = 1000  # of RDKit's 5,000 NCI molecules when no limit is given


@dataclass
class DiagnosticOptions:
    """Everything a diagnostic may read; each uses the fields that concern it.

    data: input files (SCS: SMILES files; CCS: task files; LS: one per task, aligned
        with ``tasks``; a missing or ``None`` entry means the task's shipped file).
    tasks: task names for LS (default: every task whose data the package ships).
    limit: items per file (SCS default :data:`DEFAULT_SCS_LIMIT`).
    ls_context, think, max_think_tokens: LS_d's context (``generated``: the model's own
        greedy reasoning of at most ``max_think_tokens``; ``fixed``: ``<think>{think}</think>``).
    """

    data: list[str | None] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    limit: int | None = None
    batch_size: int = 16
    seed: int = 0
    max_length: int | None = None
    template: str = DEFAULT_TEMPLATE
    fraction: float = DEFAULT_FRACTION
    num_distractors: int = DEFAULT_NUM_DISTRACTORS
    ls_context: str = DEFAULT_CONTEXT
    think: str = ""
    max_think_tokens: int = DEFAULT_MAX_THINK_TOKENS
    system_prompt: str | None = None
    k: int = 8
    n: int | None = None
    temperature: float = 0.9
    max_new_tokens: int = 256


def _task_examples(options: DiagnosticOptions) -> dict[str, list[dict]]:
    tasks = options.tasks or list(DEFAULT_FILES)
    if len(options.data) > len(tasks):
        raise ValueError(f"{len(options.data)} data files for {len(tasks)} tasks: give one --task per --data")
    files = list(options.data) + [None] * (len(tasks) - len(options.data))
    return {name: load_task_examples(get_task(name), path, options.limit) for name, path in zip(tasks, files)}


def prepare_inputs(name: str, options: DiagnosticOptions) -> Any:
    """Read the data diagnostic ``name`` scores."""
    if name == "scs":
        limit = options.limit if options.limit is not None else DEFAULT_SCS_LIMIT
        if not options.data:
            return read_smiles(None, limit)
        return [s for path in options.data for s in read_smiles(path, limit)]
    if name == "ccs":
        return load_facts(options.data or default_ccs_files(), options.limit)
    if name in ("ls_d", "ls_passk"):
        return _task_examples(options)
    raise ValueError(f"unknown diagnostic {name!r}; choose from {DIAGNOSTICS}")


def run_diagnostic(
    name: str,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    inputs: Any,
    options: DiagnosticOptions,
    all_finished: Callable[[bool], bool] | None = None,
) -> DiagnosticResult:
    """Score ``model`` on prepared ``inputs``; ``all_finished`` synchronizes sampling
    across ranks (LS_pass@k, and LS_d's generated reasoning, under FSDP)."""
    common = dict(seed=options.seed, max_length=options.max_length)
    if name == "scs":
        return run_scs(model, tokenizer, inputs, fraction=options.fraction, template=options.template,
                       batch_size=options.batch_size, **common)
    if name == "ccs":
        return run_ccs(model, tokenizer, inputs, batch_size=options.batch_size, **common)
    if name == "ls_d":
        return run_ls_d(model, tokenizer, inputs, num_distractors=options.num_distractors, batch_size=options.batch_size,
                        system_prompt=options.system_prompt, context=options.ls_context, think=options.think,
                        max_think_tokens=options.max_think_tokens, all_finished=all_finished, **common)
    if name == "ls_passk":
        return run_ls_passk(model, tokenizer, inputs, k=options.k, n=options.n, temperature=options.temperature,
                            max_new_tokens=options.max_new_tokens, batch_size=options.batch_size,
                            system_prompt=options.system_prompt, all_finished=all_finished, **common)
    raise ValueError(f"unknown diagnostic {name!r}; choose from {DIAGNOSTICS}")
