"""Conditional material generation: text and CIF answers, checked against pymatgen/SMACT."""

import pytest
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from smact.screening import ICSD24FilterConfig, smact_validity
from tasks_testkit import completion

from mist_pl.tasks import cond_mat_gen as cmg
from mist_pl.tasks.material_answer import parse_material_text
from mist_pl.tasks.material_checks import KnownCompositions, charge_balanced, distances_physical

W = cmg.TEXT_WEIGHTS
C = cmg.CIF_WEIGHTS


def score(answer, elements=("Na", "Cl"), space_group=225, known=None):
    columns = {"elements": [list(elements)], "space_group": [space_group]}
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


# ------------------------------------------------------------------ charge balance (SMACT truth)


@pytest.mark.parametrize("counts, formula", [({"Na": 1, "Cl": 1}, "NaCl"), ({"Na": 1, "Cl": 2}, "NaCl2"), ({"Mg": 1, "O": 1}, "MgO"), ({"Fe": 2, "O": 3}, "Fe2O3"), ({"Ba": 1, "Ti": 1, "O": 3}, "BaTiO3")])
def test_charge_balance_agrees_with_smact(counts, formula):
    strict = ICSD24FilterConfig(consensus=3, commonality="medium")  # the default set, icsd24_medium
    assert charge_balanced(counts) == smact_validity(formula, icsd_filter=strict)


def test_smact_premise():
    assert smact_validity("NaCl") and not smact_validity("NaCl2")


# The held-out cases: with the requested elements, a composition no real oxidation states
# balance must not earn top-1 or the charge-balance weight (SMACT's default set took them).
IMPOSSIBLE_ANSWERS = [("Sr Ti O O O O O O O O <sg1>", ("Sr", "Ti", "O"), 1), ("Y O O <sg225>", ("Y", "O"), 225),
                      ("Na Cl Cl Cl <sg225>", ("Na", "Cl"), 225)]
REAL_ANSWERS = [("Sr Ti O O O <sg221>", ("Sr", "Ti", "O"), 221), ("Na Cl <sg225>", ("Na", "Cl"), 225),
                ("Mg O <sg225>", ("Mg", "O"), 225), ("Ba Ti O O O <sg99>", ("Ba", "Ti", "O"), 99),
                ("Zn S <sg216>", ("Zn", "S"), 216), ("Ga As <sg216>", ("Ga", "As"), 216),
                ("Li Co O O <sg166>", ("Li", "Co", "O"), 166)]


@pytest.mark.parametrize("answer, elements, space_group", IMPOSSIBLE_ANSWERS)
def test_impossible_composition_is_not_top1_and_loses_the_charge_weight(answer, elements, space_group):
    example = {"elements": list(elements), "space_group": space_group}
    assert not cmg.top1(completion(answer), example)
    total = sum(w for k, w in W.items() if k != "novel")
    assert score(answer, elements, space_group) == pytest.approx((total - W["charge_balanced"]) / total)


@pytest.mark.parametrize("answer, elements, space_group", REAL_ANSWERS)
def test_real_compounds_are_top1(answer, elements, space_group):
    assert cmg.top1(completion(answer), {"elements": list(elements), "space_group": space_group})
    assert score(answer, elements, space_group) == pytest.approx(1.0)


def test_yo2_as_a_cif_is_not_charge_balanced():
    fluorite = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.2), ["Y", "O"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    assert fluorite.composition.reduced_formula == "YO2"
    cif = str(CifWriter(fluorite))
    example = {"elements": ["Y", "O"], "space_group": 225}
    assert not cmg.top1(completion(cif), example)
    total = sum(w for k, w in C.items() if k != "novel")
    assert score(cif, ("Y", "O"), 225) == pytest.approx((total - C["charge_balanced"]) / total)


def test_charge_settings_are_columns_and_a_bad_one_is_named():
    fe3o4 = ("Fe Fe Fe O O O O <sg227>", ("Fe", "O"), 227)
    assert not cmg.top1(completion(fe3o4[0]), {"elements": ["Fe", "O"], "space_group": 227})
    assert cmg.top1(completion(fe3o4[0]), {"elements": ["Fe", "O"], "space_group": 227, "mixed_valence": True})
    loose = {"elements": ["Y", "O"], "space_group": 225, "oxidation_states": "icsd24_low"}
    assert cmg.top1(completion("Y O O <sg225>"), loose)  # the loose set has the hole; the default does not
    with pytest.raises(ValueError, match="oxidation_states='icsd99'"):
        cmg.check_settings({"oxidation_states": "icsd99"})
    with pytest.raises(ValueError, match="mixed_valence='yes'"):
        cmg.check_settings({"mixed_valence": "yes"})
    with pytest.raises(ValueError, match="icsd99"):  # a setting, not an answer: never read as a zero reward
        cmg.cond_mat_gen_reward([completion("Na Cl <sg225>")], elements=[["Na", "Cl"]], space_group=[225],
                                oxidation_states=["icsd99"])


# ------------------------------------------------------------------ text rewards


def test_perfect_text_answer_scores_one():
    assert score("Na Na Na Na Cl Cl Cl Cl <sg225>") == pytest.approx(1.0)
    assert cmg.top1(completion("Na Cl <sg225>"), {"elements": ["Na", "Cl"], "space_group": 225})


def test_unbalanced_composition_loses_the_balance_weight():
    total = sum(w for k, w in W.items() if k != "novel")
    assert score("Na Cl Cl <sg225>") == pytest.approx((total - W["charge_balanced"]) / total)
    assert not cmg.top1(completion("Na Cl Cl <sg225>"), {"elements": ["Na", "Cl"], "space_group": 225})


def test_space_group_validity_and_match():
    total = sum(w for k, w in W.items() if k != "novel")
    assert score("Na Cl <sg999>") == pytest.approx((total - W["space_group_valid"] - W["space_group_match"]) / total)
    assert score("Na Cl <sg221>") == pytest.approx((total - W["space_group_match"]) / total)
    assert score("Na Cl") == pytest.approx((total - W["space_group_valid"] - W["space_group_match"]) / total)


def test_without_requested_space_group_the_match_check_does_not_apply():
    total = sum(w for k, w in W.items() if k not in ("novel", "space_group_match"))
    assert score("Na Cl <sg221>", space_group=None) == pytest.approx(1.0)
    assert score("Na Cl", space_group=None) == pytest.approx((total - W["space_group_valid"]) / total)


def test_element_precision_and_recall_and_the_gate():
    total = sum(w for k, w in W.items() if k != "novel")
    gated = total - W["format"] - W["element_precision"] - W["element_recall"]  # the checks F1 scales
    # K Na Cl for {Na, Cl}: precision 2/3, recall 1 -> F1 0.8; KNaCl2 is charge balanced
    assert smact_validity("KNaCl2")
    expected = (W["format"] + W["element_precision"] * 2 / 3 + W["element_recall"] + 0.8 * gated) / total
    assert score("K Na Cl Cl <sg225>") == pytest.approx(expected)
    # Na alone for {Na, Cl}: precision 1, recall 1/2 -> F1 2/3; Na metal counts as balanced for SMACT
    assert smact_validity("Na")
    expected = (W["format"] + W["element_precision"] + W["element_recall"] / 2 + 2 / 3 * gated) / total
    assert score("Na <sg225>") == pytest.approx(expected)


def test_a_material_of_other_elements_earns_the_format_weight_only():
    """The hole RL found: "Cu <sg194>" to every request parses, has a valid space group and
    is charge balanced (a lone element is neutral); it ignores the question."""
    assert charge_balanced({"Cu": 1})
    total = sum(w for k, w in W.items() if k != "novel")
    for elements, space_group in ((("Cr", "Fe", "Pd"), 225), (("As", "Fe"), 189), (("Au", "Ba"), 216)):
        assert score("Cu <sg194>", elements=elements, space_group=space_group) == pytest.approx(W["format"] / total)
        assert score("Cu <sg194>", elements=elements, space_group=194) == pytest.approx(W["format"] / total)
    # A wrong-element CIF earns nothing: a CIF has no format weight.
    assert score(str(CifWriter(rock_salt())), elements=("Mg", "O"), space_group=225) == 0.0


def test_unknown_element_fails_composition_and_balance():
    total = sum(w for k, w in W.items() if k != "novel")
    # Xx Cl for {Na, Cl}: precision 1/2, recall 1/2 -> F1 1/2; no composition, no balance
    expected = (W["format"] + W["element_precision"] / 2 + W["element_recall"] / 2
                + 0.5 * (W["space_group_valid"] + W["space_group_match"])) / total
    assert score("Xx Cl <sg225>", elements=("Na", "Cl")) == pytest.approx(expected)


def test_unformatted_or_missing_answer_scores_zero():
    assert score("sodium chloride") == 0.0
    assert cmg.cond_mat_gen_reward(["no tags"], elements=[["Na", "Cl"]], space_group=[225]) == [0.0]


def test_novelty_against_known_compositions():
    known = KnownCompositions(["Na2Cl2", "MgO"])
    assert Composition("Na2Cl2").reduced_formula == "NaCl"  # premise: known set is normalised
    assert score("Na Cl <sg225>", known=known) == pytest.approx(1.0 - W["novel"])
    assert score("Na Na Na Cl Cl Cl <sg225>", known=frozenset({"NaCl"})) == pytest.approx(1.0 - W["novel"])
    assert score("K Cl <sg225>", elements=("K", "Cl"), known=known) == pytest.approx(1.0)


def test_unscorable_request_is_skipped():
    assert cmg.cond_mat_gen_reward([completion("Na Cl")], elements=[[]], space_group=[None]) == [None]


# ------------------------------------------------------------------ CIF answers


def test_rock_salt_cif_scores_one():
    structure = rock_salt()
    assert SpacegroupAnalyzer(structure).get_space_group_number() == 225  # premise
    cif = str(CifWriter(structure))
    assert score(cif) == pytest.approx(1.0)
    assert score("[START_CIF]\n" + cif + "\n[END_CIF]") == pytest.approx(1.0)
    assert cmg.top1(completion(cif), {"elements": ["Na", "Cl"], "space_group": 225})


def test_crushed_cell_fails_the_distance_check():
    crushed = rock_salt(a=0.95)  # Na-Cl at a/2 = 0.475 A
    matrix = crushed.distance_matrix
    assert min(matrix[i][j] for i in range(len(crushed)) for j in range(i)) < 0.5  # premise, from pymatgen
    assert not distances_physical(crushed) and distances_physical(rock_salt())
    total = sum(w for k, w in C.items() if k != "novel")
    assert score(str(CifWriter(crushed))) == pytest.approx((total - C["distances_physical"]) / total)


def test_cif_space_group_mismatch_and_wrong_elements():
    cif = str(CifWriter(rock_salt()))
    total = sum(w for k, w in C.items() if k != "novel")
    assert score(cif, space_group=221) == pytest.approx((total - C["space_group_match"]) / total)
    total_no_sg = total - C["space_group_match"]
    # Na Cl for {Na, Br}: precision 1/2, recall 1/2 -> F1 1/2 scales the material's own checks
    own = C["cif_parses"] + C["distances_physical"] + C["charge_balanced"]
    expected = (C["element_precision"] / 2 + C["element_recall"] / 2 + 0.5 * own) / total_no_sg
    assert score(cif, elements=("Na", "Br"), space_group=None) == pytest.approx(expected)


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
    assert "Cl Na" in prompt and "225" in prompt and "<answer>" in prompt


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

    from mist_pl.tasks.cif_symmetry import with_explicit_symops

    cif = _without_symops(str(CifWriter(Structure.from_spacegroup(symbol, lattice, species, coords), symprec=0.01)))
    assert "_symmetry_equiv_pos_as_xyz" not in cif  # premise: only the symbol is left
    explicit = with_explicit_symops(cif)
    assert "_symmetry_equiv_pos_as_xyz" in explicit

    def sites(text):
        structure = CifParser.from_str(text).parse_structures(primitive=False)[0]
        return sorted((site.species_string, *(round(x % 1.0, 4) % 1.0 for x in site.frac_coords)) for site in structure)

    assert sites(explicit) == sites(cif)


def test_cif_expansion_bound_counts_rows_times_operations():
    from mist_pl.tasks.cif_budget import MAX_EXPANDED_POSITIONS, expanded_positions_bound

    structure = rock_salt()
    assert expanded_positions_bound(str(CifWriter(structure))) == 8  # P1: 8 rows, 1 operation
    assert expanded_positions_bound(str(CifWriter(structure, symprec=0.01))) == 2 * 192
    header = "data_x\n_symmetry_space_group_name_H-M 'I m -3 m'\nloop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
    rows = [f"Na{i} 0.1 0.2 0.3" for i in range(300)]
    assert expanded_positions_bound(header + "\n".join(rows)) == 300 * 96
    assert expanded_positions_bound(header + " ".join(rows)) == 300 * 96  # rows packed on one line
    assert 300 * 96 > MAX_EXPANDED_POSITIONS


def test_skewed_lattice_is_checked_quickly():
    import time

    skewed = Structure(Lattice([[1, 0, 0], [700, 1, 0], [700, 700, 1]]), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    start = time.perf_counter()
    assert distances_physical(skewed)  # a unit cube in disguise: Na-Cl 0.87 A
    assert time.perf_counter() - start < 0.5
