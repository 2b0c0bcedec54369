"""Where SFT pairs come from: the ``chat`` transform's options and drops, and the
``task_sft`` corpus that builds pairs from the task suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from mist_pl.data.config import load_mixture
from mist_pl.data.corpora import read_corpus
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.errors import DataConfigError
from mist_pl.data.readers import Malformed, Record
from mist_pl.data.transforms import ChatExample, apply_transform, build_transform


def test_chat_transform_columns_templates_and_drops():
    default = build_transform({"kind": "chat"})
    assert default({"prompt": " Q? ", "completion": "A"}, 0) == ChatExample("Q?", "A")
    templated = build_transform({
        "kind": "chat", "prompt_template": "Name {smiles}.", "completion_template": "<answer>{name}</answer>",
        "system": "Be brief.",
    })
    assert templated({"smiles": "CCO", "name": "ethanol"}, 0) == ChatExample("Name CCO.", "<answer>ethanol</answer>", "Be brief.")
    # Records missing a field are dropped with a reason, never fatal.
    assert apply_transform(default, {"prompt": "Q?"}, 0)[1] == "missing_field:completion"
    assert apply_transform(default, {"prompt": "", "completion": "A"}, 0)[1] == "empty_field:prompt"
    assert apply_transform(templated, {"smiles": "CCO"}, 0)[1] == "missing_field:name"
    filtered = build_transform({"kind": "chat", "where": {"split": "train"}})
    assert apply_transform(filtered, {"prompt": "Q", "completion": "A", "split": "test"}, 0)[1] == "filtered"


@pytest.mark.parametrize(
    "transform, message",
    [
        ({"kind": "chat", "prompt_column": "q", "prompt_template": "{q}"}, "at most one of 'prompt_column' or 'prompt_template'"),
        ({"kind": "chat", "overlong": "wrap"}, "overlong='wrap' must be one of"),
        ({"kind": "chat", "answer": "a"}, "unknown option(s) ['answer']"),
    ],
)
def test_bad_chat_options_are_named(tmp_path, transform, message):
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "Q", "completion": "A"}\n')
    source = {"name": "pairs", "format": "jsonl", "path": str(data), "weight": 1, "transform": transform}
    with pytest.raises(DataConfigError, match="sources\\[0\\] \\('pairs'\\).transform") as err:
        load_mixture({"sources": [source]})
    assert message in str(err.value)


def test_chat_source_needs_a_chat_template(tmp_path, tokenizer):
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "Q", "completion": "A"}\n' * 4)
    no_template = type(tokenizer).from_pretrained(tokenizer.name_or_path)
    no_template.chat_template = None
    mix = {"sources": [{"name": "pairs", "format": "jsonl", "path": str(data), "weight": 1, "transform": {"kind": "chat"}}]}
    with pytest.raises(DataConfigError, match="'pairs'\\).transform: kind 'chat' needs a tokenizer with a chat template"):
        MixtureDataModule(mix, tokenizer=no_template).setup("fit")


@pytest.mark.parametrize("name", ["rxn_mcq", "rxn_naming"])
def test_task_sft_builds_pairs_from_the_task_registry(name):
    from mist_pl.tasks import format_reward, get_task
    from mist_pl.tasks.traces import sft_completion

    task = get_task(name)
    records = [i for i in read_corpus("task_sft", {"task": name}) if isinstance(i, Record)]
    examples = task.load_examples(records[0].origin.path)
    assert len(records) == len(examples) >= 50
    for record, example in zip(records, examples):
        assert record.fields["prompt"] == task.build_prompt(example)
        assert record.fields["completion"] == sft_completion(name, example)  # the task suite's trace
        assert str(record.origin) == example["origin"]
        assert task.top1(record.fields["completion"], example)
    completions = [r.fields["completion"] for r in records]
    assert format_reward(completions) == [1.0] * len(completions)  # <think>..</think><answer>..</answer>


def test_task_without_a_trace_builder_gets_the_placeholder(monkeypatch):
    from dataclasses import replace

    from mist_pl.tasks import registry

    task = registry.get_task("rxn_true_false")
    monkeypatch.setitem(registry._TASKS, "rxn_true_false", replace(task, sft_trace=None))
    first = next(i for i in read_corpus("task_sft", {"task": "rxn_true_false"}) if isinstance(i, Record))
    answer = first.fields["answer"]
    assert first.fields["completion"] == f"<think>The answer is {answer}.</think><answer>{answer}</answer>"


def test_task_sft_takes_a_data_file_and_reports_skipped_rows(tmp_path):
    table = tmp_path / "classes.csv"
    table.write_text("reaction,class\nCC(=O)Cl.NCC>>CC(=O)NCC,Acylation\nCCO>>CC=O,Alchemy\nc1ccccc1Br.OB(O)c1ccccc1>>c1ccc(-c2ccccc2)cc1,C-C Coupling\n")
    items = list(read_corpus("task_sft", {"task": "rxn_naming", "path": str(table)}))
    records = [i for i in items if isinstance(i, Record)]
    assert [r.fields["answer"] for r in records] == ["Acylation", "C-C Coupling"]
    assert records[0].fields["completion"].startswith("<think>Bonds formed (from bond-type counts): C-N")  # a computed trace
    assert records[0].fields["completion"].endswith("<answer>Acylation</answer>")
    skipped = [i for i in items if isinstance(i, Malformed)]
    assert len(skipped) == 1 and skipped[0].reason == "malformed_row:task_example" and "Alchemy" in skipped[0].detail


def test_task_sft_option_errors(tmp_path):
    def source(**options):
        return {"sources": [{"name": "sft", "corpus": "task_sft", "options": options, "weight": 1}]}

    with pytest.raises(DataConfigError, match="'sft'\\).options: .*needs option 'task'"):
        load_mixture(source())
    with pytest.raises(DataConfigError, match="'sft'\\).options: unknown task 'no_such_task'"):
        load_mixture(source(task="no_such_task"))
    with pytest.raises(DataConfigError, match="'sft'\\).options: unknown option 'split' for corpus 'task_sft'; allowed: path, task"):
        load_mixture(source(task="rxn_mcq", split="train"))
    # rxn_prediction ships no examples: unavailable (a warning when optional), until path is set.
    with pytest.raises(DataConfigError, match="task 'rxn_prediction' ships no examples; set options.path"):
        load_mixture(source(task="rxn_prediction"))
    mix = source(task="rxn_prediction")
    mix["sources"][0]["optional"] = True
    mix["sources"].append({"name": "mcq", "corpus": "task_sft", "options": {"task": "rxn_mcq"}, "weight": 1})
    with pytest.warns(UserWarning, match="optional source dropped"):
        assert [s.name for s in load_mixture(mix).sources] == ["mcq"]


def test_shipped_sft_mixture_loads():
    cfg = load_mixture(Path(__file__).resolve().parents[2] / "conf" / "data" / "sft_tiny.yaml")
    assert cfg.tokenizer == "mist-chem" and len(cfg.sources) == 5
    assert all(s.corpus == "task_sft" and s.transform == {"kind": "chat"} for s in cfg.sources)
    for spec in cfg.sources:
        records = [i for i in read_corpus("task_sft", spec.options) if isinstance(i, Record)]
        assert len(records) >= 50 and all(r.fields["prompt"] and r.fields["completion"] for r in records)
