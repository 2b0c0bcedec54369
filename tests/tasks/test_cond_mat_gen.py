"""Conditional material generation: text and CIF answers, checked against pymatgen/SMACT."""

import pytest
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from tasks_testkit import completion

from mist_pl.tasks import cond_mat_gen as cmg
from mist_pl.tasks.answer import parse_material_text
from mist_pl.tasks.material_checks import KnownCompositions, charge_balanced, distances_physical

W = cmg.REWARD_WEIGHTS
WELL_FORMED_WRONG = W["valid"] + W["elements"]  # the requested elements, not charge valid


def score(answer, elements=("Na", "Cl"), known=None):
    columns = {"elements": [list(elements)]}
    if known is not None:
        columns["known_compositions"] = known
    (value,) = cmg.cond_mat_gen_reward([completion(answer)], **columns)
    return value


def rock_salt(a=5.64):
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


# ------------------------------------------------------------------ format


def test_text_format_parses_tokens_counts_and_space_group():
    parsed = parse_material_text("Na Na Cl2 <sg225>")
    assert parsed.counts == {"Na": 2, "Cl": 2} and parsed.space_group == 225
    assert parse_material_text("Na, Cl,<sg225>") == parse_material_text("Na Cl <sg225>")
    assert parse_material_text("Na Cl").space_group is None


@pytest.mark.parametrize("answer", ["", "hello world", "Na <sg225> Cl", "Na Cl <sg>", "Na Cl <sg2x>", "na cl", "Na0", "Na Cl <sg1> <sg2>", "NaCl!"])
def test_text_format_rejects_other_text(answer):
    assert parse_material_text(answer) is None


# ------------------------------------------------------------------ the prompt holds no answer


def test_the_prompt_names_the_elements_and_nothing_of_the_answer():
    example = {"elements": ["Sr", "Ti", "O"], "space_group": 221, "answer": "Sr1Ti1O3"}
    prompt = cmg.build_prompt(example)
    assert "O, Sr, Ti" in prompt
    assert "221" not in prompt and "SrTiO3" not in prompt and "Sr1Ti1O3" not in prompt and "<sg221>" not in prompt


# ------------------------------------------------------------------ right answers (charge rule truth)


# With the requested elements, a composition no real oxidation states balance is wrong
# (SMACT's default set took SrTiO8 and YO2).
IMPOSSIBLE_ANSWERS = [("Sr Ti O O O O O O O O <sg1>", ("Sr", "Ti", "O")), ("Y O O <sg225>", ("Y", "O")),
                      ("Na Cl Cl Cl <sg225>", ("Na", "Cl")), ("La O O <sg225>", ("La", "O"))]
# Real compounds, the strict-rule misses included (InP, SiC, NbO, Fe3O4), each with
# any space group tag in range: the tag is the model's claim, not a target.
REAL_ANSWERS = [("Sr Ti O O O <sg221>", ("Sr", "Ti", "O")), ("Na Cl <sg225>", ("Na", "Cl")),
                ("Mg O <sg1>", ("Mg", "O")), ("Ba Ti O O O <sg99>", ("Ba", "Ti", "O")),
                ("Zn S <sg216>", ("Zn", "S")), ("Ga As <sg216>", ("Ga", "As")), ("In P <sg216>", ("In", "P")),
                ("Si C <sg186>", ("Si", "C")), ("Nb O <sg221>", ("Nb", "O")),
                ("Fe Fe Fe O O O O <sg227>", ("Fe", "O")), ("Li Co O O <sg166>", ("Li", "Co", "O"))]


@pytest.mark.parametrize("answer, elements", IMPOSSIBLE_ANSWERS)
def test_impossible_composition_is_wrong_and_earns_only_the_well_formed_part(answer, elements):
    assert not cmg.top1(completion(answer), {"elements": list(elements)})
    assert cmg.valid_answer(completion(answer), {"elements": list(elements)})
    assert score(answer, elements) == pytest.approx(WELL_FORMED_WRONG)


@pytest.mark.parametrize("answer, elements", REAL_ANSWERS)
def test_real_compounds_are_right(answer, elements):
    assert cmg.top1(completion(answer), {"elements": list(elements)})
    assert score(answer, elements) == pytest.approx(1.0)


def test_yo2_as_a_cif_is_not_charge_valid():
    fluorite = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.2), ["Y", "O"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    assert fluorite.composition.reduced_formula == "YO2"
    cif = str(CifWriter(fluorite))
    assert not cmg.top1(completion(cif), {"elements": ["Y", "O"]})
    assert score(cif, ("Y", "O")) == pytest.approx(WELL_FORMED_WRONG)


def test_charge_settings_are_columns_and_a_bad_one_is_named():
    loose = {"elements": ["Y", "O"], "oxidation_states": "icsd24_low"}
    assert cmg.top1(completion("Y O O <sg225>"), loose)  # the loose set has the hole; the default does not
    assert not cmg.top1(completion("Y O O <sg225>"), {"elements": ["Y", "O"]})
    with pytest.raises(ValueError, match="oxidation_states='icsd99'"):
        cmg.check_settings({"oxidation_states": "icsd99"})
    with pytest.raises(ValueError, match="mixed_valence='yes'"):
        cmg.check_settings({"mixed_valence": "yes"})
    with pytest.raises(ValueError, match="icsd99"):  # a setting, not an answer: never read as a zero reward
        cmg.cond_mat_gen_reward([completion("Na Cl <sg225>")], elements=[["Na", "Cl"]], oxidation_states=["icsd99"])


# ------------------------------------------------------------------ reward parts


def test_perfect_text_answer_scores_one_and_the_space_group_is_only_range_checked():
    for answer in ("Na Na Na Na Cl Cl Cl Cl <sg225>", "Na Cl <sg1>", "Na Cl <sg230>"):
        assert score(answer) == pytest.approx(1.0), answer
    for answer in ("Na Cl <sg999>", "Na Cl <sg0>", "Na Cl"):  # no valid answer: nothing at all
        assert score(answer) == 0.0 and not cmg.valid_answer(completion(answer), {}), answer


def test_element_f1_is_the_partial_credit():
    # K Na Cl2 for {Na, Cl}: precision 2/3, recall 1 -> F1 0.8, not the requested set
    assert score("K Na Cl Cl <sg225>") == pytest.approx(W["valid"] + 0.8 * W["elements"])
    # Na alone for {Na, Cl}: F1 2/3; a lone element is "neutral" but never right
    assert score("Na <sg225>") == pytest.approx(W["valid"] + 2 / 3 * W["elements"])


def test_a_material_of_other_elements_earns_the_valid_weight_only():
    """The hole RL found: "Cu <sg194>" to every request parses, has a valid space group and
    is neutral; it ignores the question."""
    assert charge_balanced({"Cu": 1})
    for elements in (("Cr", "Fe", "Pd"), ("As", "Fe"), ("Au", "Ba")):
        assert score("Cu <sg194>", elements=elements) == pytest.approx(W["valid"])
    assert score(str(CifWriter(rock_salt())), elements=("Mg", "O")) == pytest.approx(W["valid"])


def test_an_unknown_element_makes_no_valid_answer():
    assert score("Xx Cl <sg225>") == 0.0


def test_unformatted_or_missing_answer_scores_zero():
    assert score("sodium chloride") == 0.0
    assert cmg.cond_mat_gen_reward(["no tags"], elements=[["Na", "Cl"]]) == [0.0]


def test_novelty_against_known_compositions_and_once_per_round(tmp_path):
    known = KnownCompositions(["Na2Cl2", "MgO"])
    assert Composition("Na2Cl2").reduced_formula == "NaCl"  # premise: known set is normalised
    assert score("Na Cl <sg225>", known=known) == pytest.approx(1.0 - W["novel"])
    assert score("Na Na Na Cl Cl Cl <sg225>", known=frozenset({"NaCl"})) == pytest.approx(1.0 - W["novel"])
    assert score("K Cl <sg225>", elements=("K", "Cl"), known=known) == pytest.approx(1.0)
    # the known set as a file: one formula per line, or a task split's jsonl
    lines = tmp_path / "known.txt"
    lines.write_text("NaCl\nMgO\n")
    split = tmp_path / "train.jsonl"
    split.write_text('{"elements": ["Na", "Cl"], "answer": "Na4Cl4"}\n')
    assert score("Na Cl <sg225>", known=str(lines)) == pytest.approx(1.0 - W["novel"])
    assert score("Na Cl <sg225>", known=str(split)) == pytest.approx(1.0 - W["novel"])
    # one round: the same right formula for the same request pays novelty once
    answers = [completion("Na Cl <sg225>"), completion("Na2 Cl2 <sg225>"), completion("Na Cl <sg221>"),
               completion("K Cl <sg225>")]
    elements = [["Na", "Cl"], ["Na", "Cl"], ["Na", "Cl"], ["K", "Cl"]]
    assert cmg.cond_mat_gen_reward(answers, elements=elements) == pytest.approx([1.0, 0.8, 0.8, 1.0])


def test_novel_top1_is_right_and_unknown():
    example = {"elements": ["Na", "Cl"], "known_compositions": frozenset({"NaCl"})}
    assert cmg.top1(completion("Na Cl <sg225>"), example)
    assert not cmg.novel_top1(completion("Na Cl <sg225>"), example)
    assert cmg.novel_top1(completion("Na Cl <sg225>"), {"elements": ["Na", "Cl"]})
    assert not cmg.novel_top1(completion("Na Cl Cl <sg225>"), {"elements": ["Na", "Cl"]})


def test_unscorable_request_is_skipped():
    assert cmg.cond_mat_gen_reward([completion("Na Cl")], elements=[[]]) == [None]


# ------------------------------------------------------------------ CIF answers


def test_rock_salt_cif_scores_one():
    structure = rock_salt()
    assert SpacegroupAnalyzer(structure).get_space_group_number() == 225  # premise
    cif = str(CifWriter(structure))
    assert score(cif) == pytest.approx(1.0)
    assert score("[START_CIF]\n" + cif + "\n[END_CIF]") == pytest.approx(1.0)
    assert cmg.top1(completion(cif), {"elements": ["Na", "Cl"]})


def test_crushed_cell_is_no_valid_answer():
    crushed = rock_salt(a=0.95)  # Na-Cl at a/2 = 0.475 A
    matrix = crushed.distance_matrix
    assert min(matrix[i][j] for i in range(len(crushed)) for j in range(i)) < 0.5  # premise, from pymatgen
    assert not distances_physical(crushed) and distances_physical(rock_salt())
    assert score(str(CifWriter(crushed))) == 0.0
    assert not cmg.valid_answer(completion(str(CifWriter(crushed))), {})


def test_unreadable_cif_scores_zero():
    assert score("data_broken\n_cell_length_a 5\nloop_\n_atom_site_label\n") == 0.0
    assert score("data_x\n" + "_atom_site_fract_x 0.5\n" * 5000) == 0.0


# ------------------------------------------------------------------ examples


def test_examples_from_crystal_records(demo):
    examples = cmg.load_examples(demo / "crystalrelax_tiny" / "tgt-train.txt")
    assert len(examples) == 40 and not examples.skipped
    first = examples[0]
    assert first["elements"] == ["Cl", "Na"] and first["space_group"] == 225
    assert first["origin"].endswith("tgt-train.txt:1")
    assert {e["space_group"] for e in examples} <= {225, 216, 221}
    known = cmg.known_compositions(examples)
    assert "NaCl" in known
    prompt = cmg.build_prompt(first)
    assert "Cl, Na" in prompt and "225" not in prompt and "<answer>" in prompt


def test_malformed_crystal_records_are_skipped(tmp_path):
    path = tmp_path / "records.txt"
    path.write_text(
        "serialized_cif formula Na 1_int Cl 1_int\nspace_group_symbol Fm-3m_sg\n\n"
        "garbage line\n\n"
        "serialized_cif formula Qq 1_int\nspace_group_symbol Fm-3m_sg\n\n"
        "serialized_cif formula Na 1_int Cl 1_int\nspace_group_symbol Zz9_sg\n"
    )
    examples = cmg.load_examples(path)
    assert len(examples) == 1
    assert [o.rsplit(":", 1)[1] for o, _ in examples.skipped] == ["4", "6", "9"]


# ------------------------------------------------------------------ CIF cost guards


def _without_symops(cif):
    """The CIF with its explicit operations loop removed: pymatgen must use the symbol."""
    import re

    return re.sub(r"loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n(  \d+  '[^']*'\n)+", "", cif)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pymatgen reports the symbol path it takes
@pytest.mark.parametrize(
    "symbol, species, coords, lattice",
    [
        ("Fm-3m", ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], Lattice.cubic(5.64)),
        ("Fd-3m", ["Si"], [[0, 0, 0]], Lattice.cubic(5.43)),
        ("P6_3/mmc", ["Mg"], [[1 / 3, 2 / 3, 0.25]], Lattice.hexagonal(3.2, 5.2)),
        ("R-3m", ["Bi"], [[0, 0, 0.23]], Lattice.hexagonal(4.5, 11.8)),
        ("P2_1/c", ["C"], [[0.1, 0.2, 0.3]], Lattice.monoclinic(5, 6, 7, 100)),
    ],
)
def test_explicit_symops_give_the_structure_pymatgen_builds_from_the_symbol(symbol, species, coords, lattice):
    from pymatgen.io.cif import CifParser

    from mist_pl.chem.cif_symmetry import with_explicit_symops

    cif = _without_symops(str(CifWriter(Structure.from_spacegroup(symbol, lattice, species, coords), symprec=0.01)))
    assert "_symmetry_equiv_pos_as_xyz" not in cif  # premise: only the symbol is left
    explicit = with_explicit_symops(cif)
    assert "_symmetry_equiv_pos_as_xyz" in explicit

    def sites(text):
        structure = CifParser.from_str(text).parse_structures(primitive=False)[0]
        return sorted((site.species_string, *(round(x % 1.0, 4) % 1.0 for x in site.frac_coords)) for site in structure)

    assert sites(explicit) == sites(cif)


def test_cif_expansion_estimate_counts_rows_times_operations():
    from pymatgen.io.cif import CifFile

    from mist_pl.chem.crystals import expansion_estimate

    def estimate(text):
        return expansion_estimate(CifFile.from_str(text))

    structure = rock_salt()
    assert estimate(str(CifWriter(structure))) == (8, 8)  # P1: 8 rows, 1 operation
    sites, positions = estimate(str(CifWriter(structure, symprec=0.01)))
    assert positions == 2 * 192 and sites == 8  # two rows with their declared multiplicities (4 + 4)
    header = "data_x\n_symmetry_space_group_name_H-M 'I m -3 m'\nloop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
    rows = [f"Na{i} 0.1 0.2 0.3" for i in range(300)]
    assert estimate(header + "\n".join(rows)) == (300 * 192, 300 * 192)  # no operations listed: the most a group has
    assert estimate(header + " ".join(rows)) == (300 * 192, 300 * 192)  # rows packed on one line


def test_a_reward_cif_over_the_budget_is_refused_unparsed(monkeypatch):
    from mist_pl.chem import crystals
    from mist_pl.tasks.material_checks import parse_structure

    def parse(*args, **kwargs):
        raise AssertionError("pymatgen's CIF parser was called")

    header = "data_x\n_cell_length_a 9\n_cell_length_b 9\n_cell_length_c 9\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
    ops = "loop_\n_symmetry_equiv_pos_as_xyz\n" + "'x,y,z'\n" * 400
    atoms = "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n" + "".join(
        f"Na{i} 0.{i} 0.1 0.2\n" for i in range(1, 9))
    monkeypatch.setattr(crystals.CifParser, "from_str", parse)
    assert parse_structure(header + ops + atoms) is None  # 8 rows x 400 listed = 3200 > 2000, 8 sites


def test_skewed_lattice_is_checked_quickly():
    import time

    skewed = Structure(Lattice([[1, 0, 0], [700, 1, 0], [700, 700, 1]]), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    start = time.perf_counter()
    assert distances_physical(skewed)  # a unit cube in disguise: Na-Cl 0.87 A
    assert time.perf_counter() - start < 10  # a naive image search of this cell takes minutes
