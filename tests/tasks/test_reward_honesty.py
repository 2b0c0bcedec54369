"""Rewards that RL cannot collect without answering: copying the prompt, empty tags and
listing every class earn no more than saying nothing.

"Nothing" is the total reward (the task's weighted rewards, format included) of a
completion with no answer block at all. Each probe below is scored the same way, on the
task's own example and prompt.
"""

import pytest
from tasks_testkit import completion
from test_valid_answers import CASES

from mist_pl.runtime.protocol import weighted_total
from mist_pl.tasks import get_task
from mist_pl.tasks.answer import RESPONSE_PREFIX, format_reward
from mist_pl.tasks.rxn_naming import INVALID, REACTION_CLASSES, VALID_WRONG

# crystal_relax's reward runs CHGNet (the optional materials extra): slow, and its
# prompt-copy case is covered by the same placeholder rule as the others.
TASKS = [name for name in CASES if name != "crystal_relax"]


def total(task, completions, example):
    columns = {key: [value] * len(completions) for key, value in example.items()}
    scores = [fn(completions, **columns) for fn in task.reward_functions]
    return weighted_total(scores, task.reward_weights)


def nothing(task, example) -> float:
    return total(task, ["I cannot tell."], example)[0]


@pytest.mark.parametrize("name", TASKS)
def test_copying_the_prompt_earns_nothing(name):
    task = get_task(name)
    example = CASES[name]()[0]
    prompt = task.build_prompt(example)
    copies = [prompt, RESPONSE_PREFIX + prompt, RESPONSE_PREFIX + prompt + "</think><answer>" + prompt + "</answer>"]
    # The layout line of the prompt, copied alone as the whole answer turn.
    layout = prompt[prompt.index("Layout: ") + len("Layout: "):]
    copies.append(layout)
    base = nothing(task, example)
    for copy, value in zip(copies, total(task, copies, example)):
        assert value is not None and value <= base + 1e-9, (name, copy[-120:], value, base)
        assert not task.valid(copy, example), copy[-120:]


@pytest.mark.parametrize("name", TASKS)
def test_empty_tags_earn_nothing(name):
    task = get_task(name)
    example = CASES[name]()[0]
    empty = ["<think></think><answer></answer>", "<think> </think><answer> </answer>", "<think>\n</think><answer></answer>"]
    base = nothing(task, example)
    assert all(value <= base + 1e-9 for value in total(task, empty, example))
    assert format_reward(empty) == [0.0, 0.0, 0.0]


def test_format_reward_needs_reasoning_and_an_answer():
    probes = [completion("Acylation"), completion("Acylation", think=""), completion("", think="why"),
              completion("Acylation", think="... ?!")]
    assert format_reward(probes) == [1.0, 0.0, 0.0, 0.0]


def test_listing_classes_earns_no_more_than_a_wrong_guess():
    task = get_task("rxn_naming")
    example = CASES["rxn_naming"]()[0]  # gold: Acylation
    every = "; ".join(REACTION_CLASSES)
    probes = {
        "all classes as the answer": completion(every, think="It could be any of them."),
        "two classes as the answer": completion("Acylation or Reduction"),
        "all classes in the reasoning": completion("Reduction", think=f"Candidates: {every}."),
        "gold among three in the reasoning": completion("Reduction", think="Acylation, Reduction or Protection."),
    }
    values = dict(zip(probes, total(task, list(probes.values()), example)))
    format_bonus = task.reward_weights[1]
    assert values["all classes as the answer"] == pytest.approx(INVALID + format_bonus)
    assert values["two classes as the answer"] == pytest.approx(INVALID + format_bonus)
    # A wrong class with the gold buried in a list of names gets no reasoning bonus.
    assert values["all classes in the reasoning"] == pytest.approx(VALID_WRONG + format_bonus)
    assert values["gold among three in the reasoning"] == pytest.approx(VALID_WRONG + format_bonus)
    # The only way up is the gold class.
    right = total(task, [completion("Acylation", think="An amine is acylated: Acylation.")], example)[0]
    assert right > max(values.values())
