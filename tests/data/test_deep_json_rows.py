"""A jsonl line nested deeper than the JSON parser's recursion limit ended every reader of
user rows in a bare ``RecursionError`` naming no file: mixture sources, GRPO prompt files
and eval's ``--split`` files. It is now a malformed row like any other, counted with its
file:line."""

from __future__ import annotations

import json

from mist_pl.data.readers import Malformed, Record, read_file
from mist_pl.data.task_examples import read_jsonl
from mist_pl.eval.task_data import load_task_examples
from mist_pl.tasks import get_task

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"text": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001


def write(path, *lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_a_mixture_source_counts_the_line_as_malformed_with_file_and_line(tmp_path):
    path = write(tmp_path / "docs.jsonl", '{"text": "a"}', DEEP_ARRAY, DEEP_OBJECT, '{"text": "b"}')
    items = list(read_file(str(path), "jsonl"))
    assert [i.fields["text"] for i in items if isinstance(i, Record)] == ["a", "b"]
    bad = [i for i in items if isinstance(i, Malformed)]
    assert [(b.reason, str(b.origin)) for b in bad] == [
        ("malformed_row:invalid_json", f"{path}:2"),
        ("malformed_row:invalid_json", f"{path}:3"),
    ]
    assert all("nested too deeply" in b.detail for b in bad)


def test_grpo_prompt_files_skip_the_line_naming_file_and_line(tmp_path):
    path = write(tmp_path / "prompts.jsonl", json.dumps({"prompt": "p", "answer": "A"}), DEEP_ARRAY, DEEP_OBJECT)
    examples, skipped = read_jsonl(path)
    assert [e["prompt"] for e in examples] == ["p"]
    assert [s.split(": ")[0] for s in skipped] == [f"{path}:2", f"{path}:3"]
    assert all("nested too deeply" in s for s in skipped)


def test_eval_split_files_read_past_the_line(tmp_path):
    row = {"prompt": "Name the reaction", "reaction": "CC(=O)Cl.NCC>>CC(=O)NCC", "answer": "Acylation"}
    path = write(tmp_path / "test.jsonl", DEEP_ARRAY, json.dumps(row))
    examples = load_task_examples(get_task("rxn_naming"), path)
    assert [e["answer"] for e in examples] == ["Acylation"]
