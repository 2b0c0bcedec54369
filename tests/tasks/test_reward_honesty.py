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


# ---------------------------------------------------------------- adversarial completions
#
# Each probe tries to collect reward without being right: hedging, a second answer block,
# a lone element, a tag out of range, a structure with no physics, a formula that is not
# the answer format. None may earn more than the task's best well-formed wrong answer (the
# valid-but-wrong answers of test_valid_answers.CASES, scored the same way). Issue 23's
# holes come first; the rest are probes of the same kinds written for this test.
RIGHT_THEN_WRONG = "<think>t</think><answer>{wrong}</answer><answer>{right}</answer>"


def _cif(lattice: str, rows: list[str]) -> str:
    a, b, c, alpha, beta, gamma = lattice.split()
    return ("data_probe\n" f"_cell_length_a {a}\n_cell_length_b {b}\n_cell_length_c {c}\n"
            f"_cell_angle_alpha {alpha}\n_cell_angle_beta {beta}\n_cell_angle_gamma {gamma}\n"
            "_symmetry_space_group_name_H-M 'P 1'\nloop_\n_atom_site_label\n_atom_site_type_symbol\n"
            "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
            + "".join(f"{el}{i} {el} {xyz} 1\n" for i, (el, xyz) in enumerate(r.split(" ", 1) for r in rows)))


ADVERSARIAL = {
    "cond_mat_gen": {  # example: Na, Cl requested
        "a lone requested element (issue: O <sg96> earned 0.831)": completion("Na <sg96>"),
        "space group 0": completion("Na Cl <sg0>"),
        "space group 231": completion("Na Cl <sg231>"),
        "no space group tag": completion("Na Cl"),
        "a wrong block, then a right one (issue: earned 1.0)": RIGHT_THEN_WRONG.format(wrong="K Br <sg225>",
                                                                                         right="Na Cl <sg225>"),
        "arbitrary P1 positions, an impossible composition (issue: 0.989)": completion(
            _cif("7 7 7 90 90 90", ["Na 0.1 0.2 0.3", "Cl 0.6 0.1 0.8", "Cl 0.3 0.7 0.5", "Cl 0.9 0.9 0.1"])),
        "a right composition with atoms on top of each other": completion(
            _cif("5.64 5.64 5.64 90 90 90", ["Na 0 0 0", "Cl 0.01 0 0"])),
        "a NaN cell": completion(_cif("nan 5 5 90 90 90", ["Na 0 0 0", "Cl 0.5 0.5 0.5"])),
        "a flat cell": completion(_cif("5 5 5 0 90 90", ["Na 0 0 0", "Cl 0.5 0.5 0.5"])),
        "the answer twice in one block": completion("Na Cl <sg225> Na Cl <sg225>"),
        "an extra element": completion("K Na Cl Cl <sg225>"),
        "an element that does not exist": completion("Xx Na Cl <sg225>"),
        "a zero count": completion("Na0 Cl <sg225>"),
        "more atoms than any cell": completion("Na500 Cl500 <sg225>"),
        "a formula instead of the format": completion("NaCl"),
        "the prompt's element list": completion("Cl, Na"),
        "the answer only in the reasoning": "<think>Na Cl <sg225></think>",
        "nested answer blocks": "<think>t</think><answer><answer>Na Cl <sg225></answer></answer>",
    },
    "rxn_naming": {  # gold: Acylation
        "a wrong block, then the gold": RIGHT_THEN_WRONG.format(wrong="Reduction", right="Acylation"),
        "the gold only in the reasoning": "<think>Acylation</think>",
        "the gold in the reasoning, another class answered": completion("Reduction", think="Acylation"),
        "a class and an explanation": completion("Acylation, because an amide forms"),
        "a Greek capital alpha": completion("\u0391cylation"),
        "nested answer blocks": "<think>t</think><answer><answer>Acylation</answer></answer>",
    },
    "rxn_prediction": {  # gold: ethyl acetate
        "the reactants copied": completion("CC(=O)O.OCC"),
        "a wrong block, then the gold": RIGHT_THEN_WRONG.format(wrong="CCO", right="CCOC(C)=O"),
        "the product and a by-product": completion("CCOC(C)=O.O"),
    },
    "rxn_mcq": {  # gold: B
        "two letters": completion("A or B"),
        "a wrong block, then the gold": RIGHT_THEN_WRONG.format(wrong="A", right="B"),
    },
    "rxn_true_false": {
        "both": completion("true/false"),
        "a wrong block, then the gold": RIGHT_THEN_WRONG.format(wrong="false", right="true"),
    },
}


def best_wrong(task, example, wrong_answers) -> float:
    return max(total(task, [completion(a) for a in wrong_answers], example))


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_completions_earn_no_more_than_a_well_formed_wrong_answer(name):
    task = get_task(name)
    example, right, wrong = CASES[name]()
    bar = best_wrong(task, example, wrong)
    probes = ADVERSARIAL[name]
    values = dict(zip(probes, total(task, list(probes.values()), example)))
    over = {probe: value for probe, value in values.items() if value is not None and value > bar + 1e-9}
    assert not over, (name, bar, over)
    # and each probe is judged wrong
    assert not [p for p, c in probes.items() if task.top1(c, example)], name
    assert total(task, [completion(right[0])], example)[0] > bar  # the scale is not flat


def test_the_material_issue_probes_score_what_the_issue_asked():
    """Issue 23's measured holes, each at its new value: nothing for an invalid answer or a
    second block, the well-formed-wrong value for an impossible composition of the
    requested elements, the element share of it for a lone element."""
    from mist_pl.tasks.cond_mat_gen import REWARD_WEIGHTS as W
    from mist_pl.tasks.cond_mat_gen import cond_mat_gen_reward

    probes = ADVERSARIAL["cond_mat_gen"]
    names = ["a lone requested element (issue: O <sg96> earned 0.831)", "space group 231",
             "a wrong block, then a right one (issue: earned 1.0)",
             "arbitrary P1 positions, an impossible composition (issue: 0.989)"]
    values = cond_mat_gen_reward([probes[n] for n in names], elements=[["Na", "Cl"]] * len(names))
    assert values == pytest.approx([W["valid"] + W["elements"] * 2 / 3, 0.0, 0.0, W["valid"] + W["elements"]])
