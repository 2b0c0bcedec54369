"""Valid-answer checks: a well-typed answer (right or wrong) versus no usable answer.

For every built-in task: a right answer is valid and top-1, a wrong but well-typed one
is valid and not top-1, and junk, missing or unclosed answer blocks, non-strings and
megabyte strings are invalid without raising.
"""

import time

import pytest
from tasks_testkit import completion
from test_fuzz import adversarial_texts

from mist_pl.tasks import get_task, rxn_naming
from mist_pl.tasks.answer import MAX_COMPLETION_CHARS, valid_smiles_answer
from mist_pl.tasks.registry import BUILTIN_TASK_MODULES, Task

MAX_HOSTILE_CALL_S = 10.0  # same bound as the fuzz tests: a guard against blow-ups, not a speed target


def _rock_salt(a):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _periclase(a=4.21):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _compact(structure):
    from mist_pl.chem.crystal_compact import to_compact

    return to_compact(structure)


def _cif(structure):
    from pymatgen.io.cif import CifWriter

    return str(CifWriter(structure))


def _crystal_relax_case():
    relaxed, perturbed = _compact(_rock_salt(5.64)), _compact(_rock_salt(5.69))
    example = {"structure": perturbed, "answer": relaxed}
    # The input echoed back (0.9 % off the reference) and another crystal are
    # structures, just not the relaxed one.
    return example, [relaxed, _cif(_rock_salt(5.64))], [perturbed, _cif(_periclase())]


def _cond_mat_gen_case():
    example = {"elements": ["Na", "Cl"], "space_group": 225}
    right = ["Na Cl <sg225>", "Na4 Cl4 <sg225>", "Na Cl <sg221>", _cif(_rock_salt(5.64))]
    # Wrong elements, one requested element alone, unbalanced charge, a CIF of another
    # material: all still material answers.
    wrong = ["K Br <sg225>", "Na <sg229>", "Na Cl Cl <sg225>", _cif(_periclase())]
    return example, right, wrong


# name -> () -> (example, right answers, valid but wrong answers, invalid answers)
CASES = {
    "rxn_naming": lambda: (
        {"reaction": "CC(=O)Cl.NCC>>CC(=O)NCC", "answer": "Acylation"},
        ["Acylation", "acylation.", " ACYLATION "],
        ["Reduction", "C-C Coupling", "c\u2013c  coupling."],
    ),
    "cond_mat_gen": _cond_mat_gen_case,
    "rxn_prediction": lambda: (
        {"reactants": "CC(=O)O.OCC", "answer": "CCOC(C)=O"},
        ["CCOC(C)=O", "CC(=O)OCC", "[START_SMILES]CCOC(C)=O[END_SMILES]", "`CCOC(C)=O`"],
        ["CCO", "CC(=O)O.CCO", "c1ccccc1"],
    ),
    "iupac_to_smiles": lambda: (
        {"name": "1-aminopropan-2-ol", "answer": "CC(O)CN"},
        ["CC(O)CN", "NCC(C)O"],
        ["CCO", "CC(N)CO", "C[C@@H](O)CN"],
    ),
    "canonicalization": lambda: (
        {"smiles": "OCC", "answer": "CCO"},
        ["CCO"],
        ["OCC", "C(C)O", "c1ccccc1"],  # same molecule but not canonical, or another molecule
    ),
    "rxn_mcq": lambda: (
        {"options": ["CCO>>CC=O", "CC(=O)Cl.NCC>>CC(=O)NCC", "C>>CC"], "answer": "B"},
        ["B", "b", "(B)", "Option B."],
        ["A", "C", "c."],
    ),
    "rxn_true_false": lambda: (
        {"reaction": "CC(=O)Cl.NCC>>CC(=O)NCC", "answer": "true"},
        ["true", "True", "TRUE."],
        ["false", "False"],
    ),
    "crystal_relax": _crystal_relax_case,
}

JUNK = {
    "rxn_naming": ["Oxidation", "Acylation or Reduction", "CC(=O)NCC", "class 3", "Acylation" * 30],
    # Not element symbols, no space group, one out of range: not a material answer.
    "cond_mat_gen": ["sodium chloride", "NaCl!", "Na Cl <sg2x>", "na cl", "Na <sg225> Cl", "data_x\n_cell_length_a 5",
                     "Na " * 2_000, "Xx Yy <sg225>", "Na Cl <sg999>", "Na Cl <sg0>", "Na Cl"],
    "rxn_prediction": ["ethyl acetate", "CCO is ethanol", "C1CC", "C(C", "CC(=O)OCC>>CCO x", "X" * 5_000],
    "iupac_to_smiles": ["propanolamine", "C1CC", "CC(O)CN CC", "[Xx]"],
    "canonicalization": ["canonical", "C1CC", "O=C=", "CCO."],
    "rxn_mcq": ["D", "AB", "the second one", "B or C", "1"],
    "rxn_true_false": ["yes", "maybe", "true or false", "1", "truth"],
    "crystal_relax": ["NaCl rock salt", "serialized_cif formula Na 1_int", "data_x\n_cell_length_a 5",
                      "serialized_cif " + "x" * 30_000],
}

NAMES = sorted(CASES)


@pytest.fixture(scope="module")
def cases():
    return {}


def case(cases, name):
    if name not in cases:
        cases[name] = CASES[name]()
    return cases[name]


def test_every_builtin_task_registers_a_validity_check():
    names = {module.rpartition(".")[2] for module in BUILTIN_TASK_MODULES}
    assert names == set(CASES) == set(JUNK)
    for name in names:
        task = get_task(name)
        assert callable(task.valid), name
        # its own check, or the one shared by the tasks whose answer is one molecule
        assert task.valid is valid_smiles_answer or (
            task.valid.__name__ == "valid_answer" and task.valid.__module__ == f"mist_pl.tasks.{name}"), name


def test_chance_top1_is_set_only_where_it_is_one_number():
    chances = {name: get_task(name).chance_top1 for name in CASES}
    assert chances.pop("rxn_naming") == pytest.approx(1 / len(rxn_naming.REACTION_CLASSES)) == pytest.approx(0.1)
    assert chances.pop("rxn_true_false") == 0.5
    assert all(value is None for value in chances.values()), chances  # open-ended, or options vary (rxn_mcq)


@pytest.mark.parametrize("name", NAMES)
def test_right_answer_is_valid_and_top1(name, cases):
    task = get_task(name)
    example, right, _ = case(cases, name)
    for answer in right:
        assert task.valid(completion(answer), example) is True, answer
        assert task.top1(completion(answer), example), answer


@pytest.mark.parametrize("name", NAMES)
def test_well_typed_wrong_answer_is_valid_but_not_top1(name, cases):
    task = get_task(name)
    example, _, wrong = case(cases, name)
    for answer in wrong:
        assert task.valid(completion(answer), example) is True, answer
        assert not task.top1(completion(answer), example), answer


@pytest.mark.parametrize("name", NAMES)
def test_junk_answers_are_invalid(name, cases):
    task = get_task(name)
    example, _, _ = case(cases, name)
    for answer in JUNK[name] + ["", "   ", "I don't know"]:
        assert task.valid(completion(answer), example) is False, answer
        assert not task.top1(completion(answer), example), answer


@pytest.mark.parametrize("name", NAMES)
def test_no_closed_answer_block_is_invalid(name, cases):
    task = get_task(name)
    example, right, _ = case(cases, name)
    answer = right[0]
    shapes = [
        answer,  # the bare answer, no tags
        f"<think>{answer}</think>",  # only in the reasoning
        f"<think>x</think><answer>{answer}",  # unclosed
        f"<think>x</think>{answer}</answer>",  # stray close
        f"<think>x</think><answer><answer>{answer}</answer></answer>",  # nested: ambiguous
        f"<think>x</think><Answer>{answer}</Answer>",  # tags are case-sensitive
        "<think>x</think><answer></answer>",
    ]
    for text in shapes:
        assert task.valid(text, example) is False, text


@pytest.mark.parametrize("name", NAMES)
def test_chat_form_completion_is_read(name, cases):
    task = get_task(name)
    example, right, _ = case(cases, name)
    assert task.valid([{"role": "assistant", "content": completion(right[0])}], example) is True


@pytest.mark.parametrize("name", NAMES)
def test_hostile_input_is_invalid_cheaply_and_never_raises(name, cases):
    task = get_task(name)
    example, _, _ = case(cases, name)
    filler = "C" * (MAX_COMPLETION_CHARS - 100)
    hostile = [
        None, 3, 1.5, b"<answer>true</answer>", [], {}, [{"content": None}], object(),
        "<think>x</think><answer>" + "B" * MAX_COMPLETION_CHARS + "</answer>",  # over the 1 MiB cap
        "<think>x</think><answer>" + filler + "</answer>",  # just under it: a 1 MB answer
        "x" * (1 << 20),
    ]
    for text in hostile:
        start = time.perf_counter()
        assert task.valid(text, example) is False, repr(text)[:80]
        assert time.perf_counter() - start < MAX_HOSTILE_CALL_S, repr(text)[:80]


@pytest.mark.parametrize("name", NAMES)
def test_adversarial_answers_give_a_bool_quickly(name, cases):
    """The fuzz suite's megabyte texts, deep parentheses and CIF bombs as answers. Some
    are well-typed (a 1999-carbon chain is a SMILES), so only the contract is checked."""
    task = get_task(name)
    example, _, _ = case(cases, name)
    for text in adversarial_texts():
        for shaped in (f"<think>t</think><answer>{text}</answer>", text):
            start = time.perf_counter()
            assert task.valid(shaped, example) in (True, False), repr(text)[:80]
            assert time.perf_counter() - start < MAX_HOSTILE_CALL_S, repr(text)[:80]


def test_smiles_validity_is_the_reward_not_invalid():
    """For the SMILES tasks "valid" is exactly "not scored INVALID" by the reward."""
    from mist_pl.tasks import canonicalization, iupac_to_smiles, rxn_prediction

    answers = ["CCO", "OCC", "CCOC(C)=O", "C1CC", "ethanol", "", "c1ccccc1", "CC(O)CN CC", "[START_SMILES]CCO[END_SMILES]"]
    for module, example in ((rxn_prediction, {"answer": "CCOC(C)=O"}), (iupac_to_smiles, {"answer": "CC(O)CN"}),
                            (canonicalization, {"smiles": "OCC"})):
        score = next(getattr(module, f) for f in dir(module) if f.startswith("score_"))
        for answer in answers:
            text = completion(answer)
            assert module.valid_answer(text, example) == (score(text, example) != module.INVALID), (module.NAME, answer)


def test_rxn_naming_validity_is_the_reward_not_invalid():
    example = {"answer": "Reduction"}
    for answer in ["Reduction", "Acylation", "deprotection.", "Oxidation", "", "Reduction!"]:
        text = completion(answer, think="no class named")
        assert rxn_naming.valid_answer(text, example) == (rxn_naming.score_rxn_naming(text, example) != rxn_naming.INVALID)


def test_mcq_validity_depends_on_the_options_offered():
    task = get_task("rxn_mcq")
    three = {"options": ["CCO>>CC=O", "CC=O>>CCO", "C>>CC"], "answer": "A"}
    two = {"options": ["CCO>>CC=O", "CC=O>>CCO"], "answer": "A"}
    assert task.valid(completion("C"), three) and not task.valid(completion("C"), two)
    for broken in ({}, {"options": None}, {"options": "ABC"}, {"options": []}):
        assert task.valid(completion("A"), broken) is False


def test_task_fields_default_and_are_checked():
    plain = Task("probe", lambda e: "", (), lambda c, e: False)  # positional construction still works
    assert plain.valid is None and plain.chance_top1 is None
    assert Task("probe", lambda e: "", (), lambda c, e: False, chance_top1=0.25).chance_top1 == 0.25
    for bad in (0.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="chance_top1="):
            Task("probe", lambda e: "", (), lambda c, e: False, chance_top1=bad)
