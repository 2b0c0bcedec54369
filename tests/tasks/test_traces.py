"""SFT traces: computed facts, the required layout, and right by each task's own metric."""

import pytest
from build_testkit import MAPPED

from mist_pl.chem.reaction_changes import bond_changes, bond_count_changes, functional_group_changes, mapped_roles
from mist_pl.tasks import TASKS, get_task
from mist_pl.tasks.answer import parse_completion
from mist_pl.tasks.rxn_naming import classes_named
from mist_pl.tasks.traces import sft_completion

EXAMPLES = {
    "rxn_naming": [
        {"reaction": "CC(=O)Cl.CCN>>CCNC(C)=O", "answer": "Acylation"},
        {"reaction": "unused", "mapped_reaction": MAPPED[1][0], "answer": "Heteroatom Alkylation and Arylation"},
        {"reaction": "CCC(C)O>>CCC(C)=O", "answer": "Miscellaneous"},
    ],
    "rxn_prediction": [
        {"reactants": "CC(=O)Cl.CCN.ClCCl", "answer": "CCNC(C)=O"},
        {"reactants": "x", "mapped_reaction": MAPPED[4][0], "answer": "Cc1ccc(N)cc1"},
    ],
    "rxn_mcq": [
        {"options": ["CCNC(C)=O>>CC(=O)Cl.CCN", "CC(=O)Cl.CCN>>CCNC(C)=O", "CC(=O)Cl>>CCNC(C)=O"], "answer": "B"},
        {"options": ["CCO>>CC=O", "C1CC>>C"], "answer": "A"},
    ],
    "rxn_true_false": [
        {"reaction": "CC(=O)Cl.CCN>>CCNC(C)=O", "answer": "true"},
        {"reaction": "CC(=O)Cl>>CCNC(C)=O", "answer": "false"},
    ],
    "iupac_to_smiles": [{"name": "phenol", "answer": "OC1=CC=CC=C1"}, {"name": "L-alanine", "answer": "C[C@H](N)C(=O)O"}],
    "canonicalization": [{"smiles": "OC1=CC=CC=C1", "answer": "Oc1ccccc1"}, {"smiles": "C(C)(=O)[O-].[Na+]"}],
    "cond_mat_gen": [
        {"elements": ["Na", "Cl"], "space_group": 225, "answer": "Na4Cl4"},
        {"elements": ["Ba", "Ti", "O"], "space_group": 221, "answer": "BaTiO3"},
        {"elements": ["Fe", "O"], "space_group": 167, "answer": "Fe4O6"},
    ],
}


def test_every_task_has_a_trace_builder():
    """Each task's builder is a field of its Task; crystal_relax has none."""
    assert {name for name, task in TASKS.items() if task.sft_trace is not None} == set(EXAMPLES)
    for name in EXAMPLES:
        assert sft_completion(name, EXAMPLES[name][0]) == get_task(name).sft_trace(EXAMPLES[name][0])
    for name in ("no_such_task", "crystal_relax"):
        with pytest.raises(KeyError, match="no SFT trace builder"):
            sft_completion(name, {})


@pytest.mark.parametrize("task_name", sorted(EXAMPLES))
def test_traces_parse_and_are_right_by_the_task_metric(task_name):
    task = get_task(task_name)
    for example in EXAMPLES[task_name]:
        completion = sft_completion(task_name, example)
        parsed = parse_completion(completion)
        assert parsed.well_formed, parsed.problems
        assert parsed.think and len(parsed.think) > 30
        assert task.top1(completion, example), completion
        rewards = [fn([completion], **{k: [v] for k, v in example.items()}) for fn in task.reward_functions]
        assert all(r[0] is not None and r[0] > 0 for r in rewards)


def test_naming_trace_states_computed_changes_and_names_only_the_gold_class():
    completion = sft_completion("rxn_naming", EXAMPLES["rxn_naming"][1])
    think = parse_completion(completion).think
    assert "from the atom mapping" in think and "Bonds formed (from the atom mapping): C-O" in think
    assert "Bonds broken: C-Br" in think and "ether" in think and "phenol" in think
    assert classes_named(think) == {"Heteroatom Alkylation and Arylation"}  # earns the reasoning bonus
    assert get_task("rxn_naming").reward_functions[0]([completion], answer=["Heteroatom Alkylation and Arylation"]) == [pytest.approx(1.1)]
    plain = parse_completion(sft_completion("rxn_naming", EXAMPLES["rxn_naming"][0])).think
    assert "from bond-type counts): C-N" in plain and "Bonds broken: C-Cl" in plain and "Functional groups formed: amide" in plain


def test_reaction_change_facts():
    changes = bond_changes(MAPPED[0][0])  # acyl chloride + amine -> amide
    assert dict(changes.formed) == {"C-N": 1} and dict(changes.broken) == {"C-Cl": 1}
    assert dict(bond_changes(MAPPED[3][0]).order_changed) == {"C-O>C=O": 1}  # alcohol oxidation
    suzuki = bond_changes(MAPPED[5][0])
    assert suzuki.formed == {"C-C": 1} and suzuki.broken == {"C-Br": 1, "C-B": 1}
    assert mapped_roles(MAPPED[0][0]).agents == ("ClCCl",)
    appeared, gone = functional_group_changes(["CC(=O)O", "OCC"], ["CC(=O)OCC"])
    assert appeared == {"ester": 1} and gone == {"carboxylic acid": 1, "alcohol": 1}
    net = bond_count_changes(["CC(=O)O", "OCC"], ["CCOC(C)=O", "O"])
    assert not net.formed and not net.broken  # an esterification keeps its bond types overall
    assert bond_changes("not>>a reaction") is None


def test_material_trace_shows_oxidation_states_and_charge():
    think = parse_completion(sft_completion("cond_mat_gen", EXAMPLES["cond_mat_gen"][1])).think
    assert "Ba +2" in think and "Ti +4" in think and "O -2" in think and "charges cancel" in think
    assert "space group is number 221" in think
    assert sft_completion("cond_mat_gen", {"elements": ["Na", "Cl"], "space_group": None, "answer": "NaCl"}) is None
    assert sft_completion("cond_mat_gen", {"elements": ["Na", "Cl"], "space_group": 225, "answer": "NaCl2"}) is None  # not balanced


def test_examples_without_what_a_trace_needs_give_none():
    assert sft_completion("rxn_naming", {"reaction": "CCO>>CC=O", "answer": "Oxidation"}) is None
    assert sft_completion("rxn_prediction", {"reactants": "CCO", "answer": "C1CC"}) is None
    assert sft_completion("rxn_mcq", {"options": ["CCO>>CC=O"], "answer": "Q"}) is None
    assert sft_completion("iupac_to_smiles", {"name": "x", "answer": None}) is None
