"""A model's CIF can never crash the process (issue 25, item 1).

spglib kills the process with SIGSEGV on a NaN or infinite lattice entry or a zero angle,
and pymatgen builds such a lattice from ``_cell_length_a nan`` without complaint; a
completion holding that CIF used to take down evaluation (judged in-process) and GRPO
with thread-run rewards (exit 139). Every numeric field of a CIF is fuzzed here with
non-finite, huge, zero and negative values, and each text goes through every path model
output or data preparation takes to native code: the cond_mat_gen reward, top-1 and
valid-answer check, ``parse_cif`` -> ``normalize`` / ``space_group`` / ``validate`` /
``to_compact``, and the data-prep crystal transform (as prepare applies it). The calls run in a child process:
a native crash fails this test naming the case instead of killing pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FIELDS = {
    "_cell_length_a": "5.64", "_cell_length_b": "5.64", "_cell_length_c": "5.64",
    "_cell_angle_alpha": "90", "_cell_angle_beta": "90", "_cell_angle_gamma": "90",
}
SITE_FIELDS = ("x", "y", "z", "occupancy")
HOSTILE_VALUES = ("nan", "NaN", "inf", "-inf", "1e308", "1e30", "1e9", "0", "-1", "1e-300", "180", "-90")


def cif(cell: dict[str, str], site: dict[str, str]) -> str:
    head = "\n".join(f"{key} {value}" for key, value in cell.items())
    return (f"data_NaCl\n{head}\n_symmetry_space_group_name_H-M 'P 1'\nloop_\n_atom_site_label\n"
            "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
            f"_atom_site_occupancy\nNa1 Na {site['x']} {site['y']} {site['z']} {site['occupancy']}\n"
            "Cl1 Cl 0.5 0.5 0.5 1\n")


def hostile_cifs() -> dict[str, str]:
    site = {"x": "0", "y": "0", "z": "0", "occupancy": "1"}
    cases = {}
    for value in HOSTILE_VALUES:
        for key in FIELDS:
            cases[f"{key}={value}"] = cif({**FIELDS, key: value}, site)
        for key in SITE_FIELDS:
            cases[f"Na {key}={value}"] = cif(FIELDS, {**site, key: value})
    cases["all angles 0"] = cif({**FIELDS, "_cell_angle_alpha": "0", "_cell_angle_beta": "0",
                                 "_cell_angle_gamma": "0"}, site)
    cases["angles 170 170 170 (no real cell)"] = cif(
        {**FIELDS, "_cell_angle_alpha": "170", "_cell_angle_beta": "170", "_cell_angle_gamma": "170"}, site)
    return cases


CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from mist_pl.chem import crystals
from mist_pl.data.transforms import CrystalDocument, apply_transform
from mist_pl.tasks.cond_mat_gen import cond_mat_gen_reward, top1, valid_answer

cases = json.load(sys.stdin)
example = {"elements": ["Cl", "Na"], "known_compositions": {"KCl"}}
outcome = {}
for name, text in cases.items():
    print("CASE", name, flush=True)  # the last CASE line names the culprit of a crash
    completion = "<think>a crystal</think><answer>" + text + "</answer>"
    (reward,) = cond_mat_gen_reward([completion], **{k: [v] for k, v in example.items()})
    right, valid = top1(completion, example), valid_answer(completion, example)
    try:
        structure = crystals.parse_cif(text)
        crystals.normalize(structure)
        crystals.space_group(structure)
        crystals.validate(structure)
        crystals.to_compact(structure)
        parsed = True
    except crystals.CrystalError:
        parsed = False
    for style in ("cif", "compact"):  # prepare counts a bad record as dropped and goes on
        apply_transform(CrystalDocument(style=style, describe=True), {"cif": text}, seed=0)
    outcome[name] = {"reward": reward, "top1": right, "valid": valid, "parsed": parsed}
print("RESULT " + json.dumps(outcome), flush=True)
"""


@pytest.fixture(scope="module")
def judged() -> dict[str, dict]:
    cases = hostile_cifs()
    done = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(cases), capture_output=True, text=True,
                          timeout=600, env={"OMP_NUM_THREADS": "1", **__import__("os").environ})
    last_case = [line for line in done.stdout.splitlines() if line.startswith("CASE ")][-1:]
    assert done.returncode == 0, f"judging crashed (exit {done.returncode}) at {last_case}: {done.stderr[-2000:]}"
    result = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(result[len("RESULT "):])


def test_no_hostile_number_in_any_cif_field_crashes_the_judge(judged):
    assert set(judged) == set(hostile_cifs())


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "0", "-1"])
@pytest.mark.parametrize("field", ["_cell_length_a", "_cell_angle_alpha"])
def test_an_impossible_cell_is_refused_and_earns_no_structure_credit(judged, field, value):
    """A NaN/inf/zero/negative edge or angle is no crystal: it does not parse, is not a valid
    answer, is never right, and earns no more than an unreadable answer would."""
    case = judged[f"{field}={value}"]
    assert case["parsed"] is False and case["valid"] is False and case["top1"] is False, case
    assert case["reward"] <= judged["_cell_length_a=nan"]["reward"]


def test_the_untouched_cif_still_parses_and_is_judged(judged):
    """The guard refuses only impossible cells: huge-but-finite coordinates (wrapped into the
    cell) and an ordinary edge length still make a structure."""
    assert judged["Na x=-1"]["parsed"] is True and judged["Na x=-1"]["valid"] is True
    assert judged["_cell_length_a=180"]["parsed"] is True
