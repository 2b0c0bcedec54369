"""RL prompts: examples -> chat-templated, left-padded prompt batches for GRPO.

Examples come from a jsonl file (one object per line: the prompt under ``prompt_field``
plus whatever columns the rewards read, e.g. ``answer``, ``reaction``, ``task``), from a
task's own file format (``task`` + a non-jsonl ``train_path``: the task's
``load_examples``), or from a function given by import path (``examples_fn``).
An example without a prompt gets one from its task's ``build_prompt``.

Every prompt is rendered by :func:`mist_pl.models.chat.render_prompt` (chat template,
generation prompt, then the task's response prefix such as ``<think>``), tokenized once
at ``setup``, and left-padded per batch
(generation appends on the right). Prompts over ``max_prompt_tokens`` are rejected or
cut in the middle (keeping the chat header and the generation prompt), with a count.
Unreadable lines are skipped and counted, never fatal.

Order is a pure function of ``(seed, epoch)``; each data-parallel replica reads its own
interleaved share (:func:`~mist_pl.data.contract.data_parallel_place`; equal sizes, so
FSDP ranks run the same number of rounds). The data module counts the
prompts of the batches that reached the model (not ones the loader prefetched) over the
whole run, and that count alone says where the stream is: epoch ``count // per_epoch``,
position ``count % per_epoch`` in it (``per_epoch``: one rank's prompts in full batches).
``state_dict`` stores it as ``(epoch, consumed)``, so a resumed run continues with the next
unseen prompt, also from a checkpoint taken exactly at an epoch's end. Lightning's own
epoch counter is not consulted: restored at an epoch boundary it can be one epoch ahead
of the data, and a whole epoch of prompts was skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from transformers import PreTrainedTokenizerBase

from mist_pl.data.contract import DataFacts, data_parallel_place, model_tokenizer
from mist_pl.data.task_examples import read_task_file
from mist_pl.models.chat import left_pad, render_prompt
from mist_pl.models.tokenizer import load_tokenizer
from mist_pl.runtime.imports import import_object
from mist_pl.tasks.registry import check_examples, get_task

log = logging.getLogger(__name__)

OVERLONG = ("reject", "truncate")
# Example column holding the text each completion continues (see ``response_prefix``).
RESPONSE_PREFIX_COLUMN = "response_prefix"


class PromptSampler(DistributedSampler):
    """Seeded per-epoch shuffle, sharded by rank, that can start mid-epoch.

    A ``DistributedSampler`` subclass so Lightning does not replace it with its own.

    With ``position`` (a function returning this rank's prompts consumed so far, over all
    epochs), each pass starts where that count says: epoch ``position // per_epoch`` from
    prompt ``position % per_epoch``, ``per_epoch`` being the prompts of ``batch_size``
    full batches; ``set_epoch`` is then ignored. Without it, ``set_epoch`` and ``start``
    decide, as in torch's sampler.
    """

    def __init__(self, size: int, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0,
                 batch_size: int = 1, position: Callable[[], int] | None = None) -> None:
        self.size = size
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.seed = shuffle, seed
        self.epoch = 0
        self.start = 0  # samples of this rank's share to skip in the next pass
        self.num_samples = size // num_replicas  # the remainder is dropped: equal shares
        self.batch_size = batch_size
        self.position = position

    @property
    def per_epoch(self) -> int:
        """Prompts one pass hands out in full batches (the loader drops a short last one)."""
        return max(1, self.num_samples // self.batch_size * self.batch_size)

    def order(self, epoch: int) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            indices = torch.randperm(self.size, generator=generator).tolist()
        else:
            indices = list(range(self.size))
        return indices[self.rank : self.num_samples * self.num_replicas : self.num_replicas]

    def __iter__(self):
        if self.position is not None:
            self.epoch, start = divmod(self.position(), self.per_epoch)
            return iter(self.order(self.epoch)[start:])
        start, self.start = self.start, 0
        return iter(self.order(self.epoch)[start:])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class PromptDataset(Dataset):
    def __init__(self, prompt_ids: list[list[int]], examples: list[dict]) -> None:
        self.prompt_ids, self.examples = prompt_ids, examples

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def __getitem__(self, index: int) -> tuple[int, list[int], dict]:
        return index, self.prompt_ids[index], self.examples[index]


class LeftPadCollator:
    """Batch of prompts -> ``input_ids`` / ``attention_mask`` left-padded to the longest,
    ``index`` (dataset rows) and ``columns`` (each example field as a list)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, items: Sequence[tuple[int, list[int], dict]]) -> dict:
        input_ids, attention_mask = left_pad([ids for _, ids, _ in items], self.pad_id)
        names = sorted({k for _, _, example in items for k in example})
        columns = {k: [example.get(k) for _, _, example in items] for k in names}
        index = torch.tensor([i for i, _, _ in items], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "index": index, "columns": columns}


def middle_truncate(ids: list[int], limit: int) -> list[int]:
    """Keep the first and last ``limit // 2``-ish tokens: the chat header and the
    generation prompt (and the question's closing instructions) survive."""
    head = limit // 2
    return ids[:head] + ids[len(ids) - (limit - head) :]


def examples_from_fn(path: str) -> list[dict]:
    """Call the ``data.examples_fn`` at import path ``path``: its examples, as dicts. What
    it returns must be an iterable of mappings; anything else is refused naming the
    function and what it returned (not ``'int' object is not iterable`` from deep inside)."""
    returned = import_object(path, what="data.examples_fn")()
    expected = "expected a list of example dicts like {'prompt': ...}"
    if isinstance(returned, (str, bytes, Mapping)) or not isinstance(returned, Iterable):
        raise TypeError(f"data.examples_fn={path!r} returned {_described(returned)}, {expected}")
    examples = []
    for i, example in enumerate(returned):
        if not isinstance(example, Mapping):
            raise TypeError(f"data.examples_fn={path!r} returned a {type(returned).__name__} whose item {i} is "
                            f"{_described(example)}, {expected}")
        examples.append(dict(example))
    return examples


def _described(value: Any) -> str:
    return "None" if value is None else f"{value!r:.60} (type {type(value).__name__})"


class PromptDataModule(L.LightningDataModule):
    """Prompt batches for GRPO (see the module docstring).

    Args:
        train_path: jsonl of examples, or a task's own file (with ``task``).
        examples_fn: import path of a function returning a list of example dicts
            (instead of ``train_path``), e.g. ``mist_pl.rl.toy.toy_examples``.
        task: default ``task`` column for examples without one; builds missing prompts.
        prompt_field: the example field holding the user prompt.
        system_prompt: optional system message before every prompt.
        response_prefix: text the assistant turn starts with, already written (see
            :mod:`mist_pl.models.chat`); None: each example's task's own (``<think>``
            for the built-in tasks; nothing for examples without a registered task).
            Stored in each example's ``response_prefix`` column: rewards judge the
            prefix plus the generated text.
        batch_size: prompts per batch = one GRPO generation round; must equal
            ``grpo.prompts_per_round`` (the module checks).
        max_prompt_tokens: prompt length limit after the chat template.
        overlong: ``reject`` or ``truncate`` prompts over the limit.
        tokenizer: a tokenizer name/folder for use without a model; by default the
            model's tokenizer is used, so the two never disagree.
        seed: shuffling seed (``None``: the trainer seed is not consulted; 0 is used).
        limit: use only the first ``limit`` examples.
        columns: constant columns set on every example (replacing the example's own
            value), e.g. the charge-balance rule of material generation
            (``{oxidation_states: icsd24_medium, mixed_valence: false}``). Each example's
            task checks such settings at start-up (:attr:`Task.check_example`): a bad value
            stops the run before training, naming it.
    """

    def __init__(
        self,
        train_path: str | None = None,
        examples_fn: str | None = None,
        task: str | None = None,
        prompt_field: str = "prompt",
        system_prompt: str | None = None,
        response_prefix: str | None = None,
        batch_size: int = 4,
        max_prompt_tokens: int = 256,
        overlong: str = "reject",
        tokenizer: str | None = None,
        seed: int = 1234,
        shuffle: bool = True,
        num_workers: int = 0,
        limit: int | None = None,
        columns: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if (train_path is None) == (examples_fn is None):
            raise ValueError("data: give exactly one of train_path and examples_fn")
        if overlong not in OVERLONG:
            raise ValueError(f"data.overlong={overlong!r} is not one of {OVERLONG}")
        if batch_size < 1 or max_prompt_tokens < 8:
            raise ValueError(f"data.batch_size={batch_size!r} must be >= 1 and data.max_prompt_tokens={max_prompt_tokens!r} >= 8")
        self.train_path, self.examples_fn, self.task = train_path, examples_fn, task
        self.prompt_field, self.system_prompt = prompt_field, system_prompt
        self.response_prefix = response_prefix
        self.batch_size, self.max_prompt_tokens, self.overlong = batch_size, max_prompt_tokens, overlong
        self.tokenizer_name, self.seed, self.shuffle = tokenizer, seed, shuffle
        self.num_workers, self.limit = num_workers, limit
        if columns is not None and not (isinstance(columns, Mapping) and all(isinstance(k, str) for k in columns)):
            raise ValueError(f"data.columns={columns!r} must map column names to values")
        self.columns = dict(columns or {})
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.dataset: PromptDataset | None = None
        self.counts: dict[str, int] = {}
        self._consumed = 0  # this rank's prompts in batches that reached the model, all epochs
        self._resume: dict | None = None

    # -- loading ---------------------------------------------------------------------
    def attach_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Use ``tokenizer`` (before ``setup``), e.g. without a trainer or a model."""
        self.tokenizer = tokenizer

    def _resolve_tokenizer(self) -> PreTrainedTokenizerBase:
        """The attached tokenizer, else the model's (:func:`~mist_pl.data.contract.model_tokenizer`),
        else ``data.tokenizer``."""
        if self.tokenizer is None:
            from_model = model_tokenizer(self.trainer)
            if from_model is not None:
                self.tokenizer = from_model
            elif self.tokenizer_name is not None:
                self.tokenizer = load_tokenizer(self.tokenizer_name)
            else:
                raise ValueError("data: no tokenizer (attach a model with a tokenizer or set data.tokenizer)")
        return self.tokenizer

    def load_examples(self) -> tuple[list[dict], list[str]]:
        skipped: list[str] = []
        if self.examples_fn is not None:
            examples = examples_from_fn(self.examples_fn)
        else:
            path = Path(self.train_path).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"data.train_path={self.train_path!r} is not a file")
            if path.suffix != ".jsonl" and self.task is None:
                raise ValueError(f"data.train_path={self.train_path!r}: not .jsonl; set data.task to read a task's file format")
            examples, skipped = read_task_file(path, self.task)
        if self.limit is not None:
            examples = examples[: self.limit]
        for example in examples:
            if self.task is not None:
                example.setdefault("task", self.task)
            example.update(self.columns)
        check_examples(examples)
        return examples, skipped

    def prompt_text(self, example: Mapping[str, Any]) -> str | None:
        prompt = example.get(self.prompt_field)
        if isinstance(prompt, str) and prompt:
            return prompt
        task = example.get("task")
        if isinstance(task, str):
            try:
                return get_task(task).build_prompt(example)
            except (KeyError, ValueError, TypeError) as error:
                log.debug("no prompt for %s: %s", example.get("origin"), error)
        return None

    def prefix_for(self, example: Mapping[str, Any]) -> str:
        """The text the assistant turn starts with: ``response_prefix`` if set, else the
        example's task's own (``<think>`` for the built-in tasks), else nothing."""
        if self.response_prefix is not None:
            return self.response_prefix
        task = example.get("task")
        if isinstance(task, str):
            try:
                return get_task(task).response_prefix
            except KeyError:
                return ""
        return ""

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is not None:
            return
        tokenizer = self._resolve_tokenizer()
        examples, skipped = self.load_examples()
        kept_ids, kept = [], []
        counts = {"read": len(examples) + len(skipped), "unreadable": len(skipped), "no_prompt": 0, "rejected": 0, "truncated": 0}
        texts = []
        for example in examples:
            prompt = self.prompt_text(example)
            if prompt is None:
                counts["no_prompt"] += 1
                continue
            example.setdefault(self.prompt_field, prompt)
            example[RESPONSE_PREFIX_COLUMN] = self.prefix_for(example)
            texts.append((render_prompt(tokenizer, prompt, self.system_prompt, example[RESPONSE_PREFIX_COLUMN]), example))
        encoded = tokenizer([t for t, _ in texts], add_special_tokens=False)["input_ids"] if texts else []
        for ids, (_, example) in zip(encoded, texts):
            if len(ids) > self.max_prompt_tokens:
                if self.overlong == "reject":
                    counts["rejected"] += 1
                    continue
                ids = middle_truncate(ids, self.max_prompt_tokens)
                counts["truncated"] += 1
            kept_ids.append(list(ids))
            kept.append(example)
        counts["kept"] = len(kept)
        self.counts = counts
        if skipped:
            log.warning("prompts: skipped %d unreadable lines (first: %s)", len(skipped), skipped[0])
        if counts["rejected"] or counts["truncated"] or counts["no_prompt"]:
            log.warning(
                "prompts: %d over %d tokens %s, %d without a prompt; %d kept",
                counts["rejected"] + counts["truncated"], self.max_prompt_tokens,
                "rejected" if self.overlong == "reject" else "truncated", counts["no_prompt"], len(kept),
            )
        _, world = data_parallel_place(self.trainer)
        if len(kept) < self.batch_size * world:
            raise ValueError(f"prompts: {len(kept)} usable prompts, fewer than one batch of {self.batch_size} per rank x {world} ranks")
        self.dataset = PromptDataset(kept_ids, kept)

    # -- contract with the model ---------------------------------------------------------
    def data_facts(self) -> DataFacts:
        """Batch size, prompt limit, usable prompts and tokenizer (:mod:`mist_pl.data.contract`)."""
        return DataFacts(batch_size=self.batch_size, max_prompt_tokens=self.max_prompt_tokens,
                         train_examples=len(self.dataset) if self.dataset is not None else None,
                         tokenizer=self.tokenizer)

    def data_metrics(self) -> dict[str, float]:
        """Nothing: the prompt counts are logged once, at ``setup``."""
        return {}

    # -- loading batches ---------------------------------------------------------------
    def _per_epoch(self) -> int:
        """One rank's prompts per epoch, in full batches (the sampler's ``per_epoch``)."""
        _, world = data_parallel_place(self.trainer)
        return max(1, len(self.dataset) // world // self.batch_size * self.batch_size)

    def _position(self) -> int:
        return self._consumed

    def train_dataloader(self) -> DataLoader:
        rank, world = data_parallel_place(self.trainer)
        if self._resume is not None:
            self._consumed = self._resume["epoch"] * self._per_epoch() + self._resume["consumed"]
            self._resume = None
        sampler = PromptSampler(len(self.dataset), world, rank, shuffle=self.shuffle, seed=self.seed,
                                batch_size=self.batch_size, position=self._position)
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=True,  # a short last round would break the batch-size contract
            collate_fn=LeftPadCollator(self.tokenizer.pad_token_id),
            num_workers=self.num_workers,
        )

    # -- resumable state ---------------------------------------------------------------
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer is not None and self.trainer.training:
            self._consumed += int(batch["input_ids"].shape[0])
        return batch

    def state_dict(self) -> dict:
        """``epoch`` and ``consumed`` (prompts of this rank in that epoch) of the data stream:
        at an epoch's end that is the next epoch, nothing consumed yet."""
        epoch, consumed = divmod(self._consumed, self._per_epoch()) if self.dataset is not None else (0, self._consumed)
        return {"epoch": epoch, "consumed": consumed, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed", self.seed) != self.seed:
            log.warning("prompts: resuming with seed %s, checkpoint used %s: the order changes", self.seed, state["seed"])
        self._resume = {"epoch": int(state["epoch"]), "consumed": int(state["consumed"])}
