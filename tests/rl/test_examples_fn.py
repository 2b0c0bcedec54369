"""``data.examples_fn`` that returns something other than example dicts fails at start-up,
naming the function and what it returned."""

from __future__ import annotations

import pytest

from mist_pl.data.rl_prompts import PromptDataModule

HERE = "test_examples_fn"


def ints():
    return [1, 2, 3]


def one_dict():
    return {"prompt": "Write ethanol."}


def nothing():
    return None


def some_strings():
    return [{"prompt": "Write ethanol."}, "Write methane."]


def generated():
    return ({"prompt": f"Write {n} carbons."} for n in range(3))


@pytest.mark.parametrize("fn, returned", [
    ("ints", "a list whose item 0 is 1 (type int)"),
    ("one_dict", "{'prompt': 'Write ethanol.'} (type dict)"),
    ("nothing", "None"),
    ("some_strings", "a list whose item 1 is 'Write methane.' (type str)"),
])
def test_non_dict_examples_name_the_function_and_the_value(fn, returned, tokenizer):
    data = PromptDataModule(examples_fn=f"{HERE}.{fn}", batch_size=1)
    data.attach_tokenizer(tokenizer)
    with pytest.raises(TypeError) as info:
        data.setup("fit")
    message = str(info.value)
    assert f"data.examples_fn='{HERE}.{fn}' returned {returned}" in message, message
    assert "expected a list of example dicts" in message


def test_any_iterable_of_dicts_is_read(tokenizer):
    data = PromptDataModule(examples_fn=f"{HERE}.generated", batch_size=1)
    data.attach_tokenizer(tokenizer)
    data.setup("fit")
    assert data.counts["kept"] == 3
