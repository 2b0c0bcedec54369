"""crystal_relax: loader, validity, composition, CHGNet energies, match with the reference."""

import importlib.util
import subprocess
import sys

import pytest
from tasks_testkit import completion

from mist_pl.tasks import crystal_relax as cr
from mist_pl.tasks import get_task

CHGNET_MISSING = importlib.util.find_spec("chgnet") is None
needs_chgnet = pytest.mark.skipif(CHGNET_MISSING, reason="chgnet not installed (pip install 'mist-pl[materials]')")


@pytest.fixture(scope="module")
def examples(demo_dir):
    return cr.load_examples(demo_dir / "crystalrelax_tiny" / "src-train.txt")


@pytest.fixture(scope="module")
def demo_dir():
    from tasks_testkit import demo_root

    return demo_root()


@pytest.fixture(scope="module")
def distinct(examples):
    """One example per formula (the fixture repeats 8 pairs five times)."""
    seen = {}
    for example in examples:
        seen.setdefault(example["formula"], example)
    return list(seen.values())


def _reward(answers, example):
    columns = {key: [value] * len(answers) for key, value in example.items()}
    return cr.crystal_relax_reward([completion(a) for a in answers], **columns)


def test_loader_pairs_src_and_tgt_records(examples, demo_dir):
    assert len(examples) == 40 and not examples.skipped
    first = examples[0]
    assert first["formula"] == "NaCl" and first["record"] == 0
    assert first["origin"] == f"{demo_dir / 'crystalrelax_tiny' / 'src-train.txt'}:1"
    assert first["target_origin"] == f"{demo_dir / 'crystalrelax_tiny' / 'tgt-train.txt'}:1"
    assert "a 5.69000000" in first["structure"] and "a 5.64000000" in first["answer"]
    assert examples[1]["origin"].endswith("src-train.txt:7")
    prompt = get_task("crystal_relax").build_prompt(first)
    assert first["structure"] in prompt and "<answer>" in prompt and "</think>" in prompt


def test_loader_refuses_unpairable_files(tmp_path, demo_dir):
    with pytest.raises(ValueError, match="src-"):
        cr.load_examples(demo_dir / "crystalrelax_tiny" / "tgt-train.txt")
    src = tmp_path / "src-x.txt"
    src.write_text((demo_dir / "crystalrelax_tiny" / "src-test.txt").read_text())
    with pytest.raises(ValueError, match="no paired"):
        cr.load_examples(src)
    (tmp_path / "tgt-x.txt").write_text("serialized_cif formula Na 1_int Cl 1_int\n")
    with pytest.raises(ValueError, match="cannot pair"):
        cr.load_examples(src)


def test_bad_records_are_skipped_not_fatal(tmp_path, demo_dir):
    text = (demo_dir / "crystalrelax_tiny" / "src-test.txt").read_text().split("\n\n")
    (tmp_path / "src-y.txt").write_text("\n\n".join([text[0], "serialized_cif formula Xx 1_int\nbroken\nbroken\nbroken"]))
    (tmp_path / "tgt-y.txt").write_text("\n\n".join([text[0], text[1]]))
    loaded = cr.load_examples(tmp_path / "src-y.txt")
    assert len(loaded) == 1 and len(loaded.skipped) == 1 and loaded.skipped[0][0].endswith("src-y.txt:7")


def test_importing_the_task_registry_does_not_load_torch_or_chgnet():
    code = (
        "import sys\nfrom mist_pl.tasks.registry import load_builtin_tasks\nt = load_builtin_tasks()\n"
        "assert 'crystal_relax' in t\nprint('torch' in sys.modules, 'chgnet' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False", "False"], result.stdout + result.stderr


def test_top1_is_a_structure_match_and_needs_no_chgnet(distinct):
    nacl = distinct[0]
    assert nacl["formula"] == "NaCl"
    assert cr.top1(completion(nacl["answer"]), nacl)
    assert not cr.top1(completion(nacl["structure"]), nacl)  # 5.69 vs 5.64 A: 0.9 % > ltol
    assert not cr.top1(completion("nonsense"), nacl)
    assert not cr.top1(completion(distinct[1]["answer"]), nacl)  # MgO for NaCl


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "nonsense",
        "serialized_cif formula Na 1_int Cl 1_int\nspace_group_symbol Fm-3m_sg\nlattice_parameters a 5 b 5",
        "serialized_cif formula Na 1_int Cl 1_int\nspace_group_symbol Fm-3m_sg\n"
        "lattice_parameters a 5.64 b 5.64 c 5.64 alpha 90 beta 90 gamma 90\nNa 4_int 0 0 0\nCl 4_int 0.01 0 0",  # overlap
        "serialized_cif formula Na 1_int\nspace_group_symbol P1_sg\nlattice_parameters a " + "9" * 5000 + " b 1 c 1 alpha 90 beta 90 gamma 90\nNa 1_int 0 0 0",
        "data_x\n_cell_length_a 5\nloop_\n_atom_site_fract_x\n" + "0.1\n" * 3000,
    ],
    ids=["empty", "text", "truncated", "overlapping", "long-number", "junk-cif"],
)
def test_unparseable_or_unphysical_answers_get_invalid_without_chgnet_work(answer, distinct):
    nacl = distinct[0]
    if CHGNET_MISSING:
        assert _reward([answer], nacl) == [None]  # all-or-nothing without CHGNet
    else:
        assert _reward([answer], nacl) == [cr.INVALID]
    assert not cr.top1(completion(answer), nacl)


def test_example_without_input_structure_gets_none():
    assert cr.crystal_relax_reward([completion("x")], structure=["garbage"], answer=["y"]) == [None]
    assert cr.crystal_relax_reward([completion("x")], structure=[None], answer=["y"]) == [None]
    assert cr.crystal_relax_reward([completion("x")], structure=["x"], task=["rxn_naming"]) == [None]


@needs_chgnet
def test_wrong_composition_is_penalized(distinct):
    nacl, mgo = distinct[0], distinct[1]
    assert _reward([mgo["answer"]], nacl) == [cr.WRONG_COMPOSITION]
    assert cr.INVALID < cr.WRONG_COMPOSITION < -cr.ENERGY_WEIGHT + 1e-9 <= 0.0


@needs_chgnet
def test_reference_scores_at_least_the_perturbed_input(distinct):
    for example in distinct:
        reference, echoed, bad = _reward([example["answer"], example["structure"], "garbage"], example)
        assert reference >= echoed > bad == cr.INVALID, example["formula"]
        assert reference >= cr.MATCH_BONUS - 1e-9
    nacl = distinct[0]
    assert _reward([nacl["answer"], nacl["structure"]], nacl) == [pytest.approx(cr.MATCH_BONUS), pytest.approx(0.0)]


@needs_chgnet
def test_energy_term_rewards_lowering_the_energy(distinct):
    from pymatgen.core import Structure

    from mist_pl.chem.crystals import to_cif

    nacl = distinct[0]
    relaxed = cr._input_structure(nacl["answer"])
    squeezed = Structure(relaxed.lattice.matrix * 0.93, relaxed.species, relaxed.frac_coords)
    stretched = Structure(relaxed.lattice.matrix * 1.07, relaxed.species, relaxed.frac_coords)
    example = dict(nacl, structure=_compact(squeezed))
    crushed = Structure(relaxed.lattice.matrix * 0.88, relaxed.species, relaxed.frac_coords)
    good, worse = _reward([to_cif(relaxed), to_cif(crushed)], example)
    assert 0.5 < good <= 1.0  # far lower energy than the squeezed input, plus the match bonus
    assert worse < 0.0
    far = dict(nacl, structure=_compact(stretched))
    assert _reward([nacl["answer"]], far)[0] > cr.MATCH_BONUS


def _compact(structure):
    from mist_pl.chem.crystal_compact import to_compact

    return to_compact(structure)


@needs_chgnet
def test_energies_agree_with_chgnet_predict_structure(distinct):
    from chgnet.model import CHGNet

    model = CHGNet.load(verbose=False)
    structures = [cr._input_structure(e[key]) for e in distinct[:3] for key in ("structure", "answer")]
    ours = cr.energies_per_atom(structures)
    theirs = [float(model.predict_structure(s, task="e")["e"]) for s in structures]
    assert ours == pytest.approx(theirs, abs=1e-5)
    nacl = distinct[0]
    e_in, e_out = theirs[0], theirs[1]
    expected = cr.ENERGY_WEIGHT * cr.energy_term(e_in, e_out) + cr.MATCH_BONUS
    assert _reward([nacl["answer"]], nacl)[0] == pytest.approx(expected, abs=1e-6)


def test_energy_term_dead_zone_and_clipping():
    assert cr.energy_term(-3.0, -3.0 + cr.ENERGY_TOL_EV / 2) == 0.0
    assert cr.energy_term(-3.0, -3.0 - cr.ENERGY_TOL_EV - cr.ENERGY_SCALE_EV / 2) == pytest.approx(0.5)
    assert cr.energy_term(-3.0, -10.0) == 1.0 and cr.energy_term(-3.0, 5.0) == -1.0


def test_missing_chgnet_gives_none_and_a_clear_error(monkeypatch, distinct):
    monkeypatch.setattr(cr, "_model", None)
    monkeypatch.setattr(cr, "_model_error", cr.INSTALL_HINT)
    with pytest.raises(cr.CHGNetUnavailable, match="mist-pl\\[materials\\]"):
        cr.chgnet_model()
    nacl = distinct[0]
    assert _reward([nacl["answer"], "garbage"], nacl) == [None, None]


def test_splits_dedupe_repeated_pairs_and_key_by_formula(examples):
    from mist_pl.tasks.splits import split_examples

    splits = split_examples("crystal_relax", examples)
    kept = [e for rows in splits.values() for e in rows]
    assert len(kept) == 8  # the fixture repeats 8 distinct pairs five times
    assert {e["split_key"] for e in kept} == {e["formula"] for e in examples}
