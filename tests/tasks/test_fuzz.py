"""Fuzz: random and adversarial model output through the parser and every reward.

More than 10k generated strings (seeded, so failures reproduce) go through
parse_completion, format_reward and each task's rewards and top-1 metric, both as
raw text and inside <answer> tags. Nothing may raise, every reward must return one
float-or-None per completion, and no single call may take ten seconds (linear
code takes milliseconds to a fifth of a second on a megabyte; a quadratic path, minutes). The expensive
adversarial inputs (megabyte texts, 100k-deep parentheses, CIF bombs) run once each;
the cheap random ones make up the count.
"""

import math
import random
import time

import pytest

from mist_pl.tasks import get_task
from mist_pl.tasks.answer import format_reward, parse_completion

SEED = 20240611
N_RANDOM = 10_500
MAX_CALL_S = 10.0  # a guard against blow-ups (minutes on a megabyte), not a speed target

# One representative example per task; fuzzed text goes in as the completion.
EXAMPLES = {
    "rxn_naming": {"reaction": "CC(=O)Cl.NCC>>CC(=O)NCC", "answer": "Acylation"},
    "cond_mat_gen": {"elements": ["Na", "Cl"], "space_group": 225, "known_compositions": frozenset({"KCl"})},
    "rxn_prediction": {"reactants": "CC(=O)O.CCO", "answer": "CC(=O)OCC"},
    "iupac_to_smiles": {"name": "ethanol", "answer": "CCO"},
    "canonicalization": {"smiles": "OCC", "answer": "CCO"},
    "rxn_mcq": {"options": ["CCO>>CC=O", "CC=O>>CCO", "C>>CC"], "answer": "B"},
    "rxn_true_false": {"reaction": "CCO>>CC=O", "answer": "true"},
}

SMILES_ALPHABET = "CNOSPFIBrcnosp()[]=#@+-\\/.%0123456789HlKa:*$~"
TAGS = ["<think>", "</think>", "<answer>", "</answer>", "<", ">", "</", "<answer", "answer>", "[START_SMILES]", "[END_SMILES]", "[START_CIF]", "[END_CIF]", "<|im_end|>"]
ELEMENT_TOKENS = ["Na", "Cl", "K", "O", "Xx", "Fe2", "Ba", "Ti", "H", "He", "Uuo", "Cl999", "Na0", "<sg225>", "<sg0>", "<sg231>", "<sg99999>", ",", "<sg", "sg>"]
CIF_LINES = ["data_x", "loop_", "_cell_length_a 5.6", "_cell_length_b -1", "_cell_angle_gamma 1e308", "_atom_site_fract_x", "_atom_site_type_symbol", "Na 0 0 0", "Cl .5 .5 .5", "_symmetry_space_group_name_H-M 'F m -3 m'", "_symmetry_equiv_pos_as_xyz", "'x, y, z'", "nan", "?", ";", "'unterminated"]
UNICODE = ["\x00", "\u200b", "\u202e", "\ufeff", "\ud800", "\U0001f600", "e\u0301", "\u2013", "Ａｃｙｌａｔｉｏｎ", "\u0000<answer>", "\r\n", "\t", "ß", "İ"]
GOLD_ANSWERS = ["CCOC(C)=O", "CC(=O)OCC", "CCO", "Acylation", "c-c coupling", "B", "(b)", "true", "FALSE", "Na Cl <sg225>", "K Cl <sg225>"]


def random_text(rng: random.Random) -> str:
    kind = rng.randrange(8)
    n = rng.randrange(0, 120)
    if kind == 0:
        return "".join(chr(rng.randrange(32, 127)) for _ in range(n))
    if kind == 1:
        return "".join(rng.choice(SMILES_ALPHABET) for _ in range(n))
    if kind == 2:
        return "".join(rng.choice(TAGS + ["x", " ", "CCO", "\n"]) for _ in range(n // 4 + 1))
    if kind == 3:
        return " ".join(rng.choice(ELEMENT_TOKENS) for _ in range(n // 8 + 1))
    if kind == 4:
        return "\n".join(rng.choice(CIF_LINES) for _ in range(n // 6 + 1))
    if kind == 5:
        return "".join(rng.choice(UNICODE) if rng.random() < 0.3 else chr(rng.randrange(0, 0x3000)) for _ in range(n))
    if kind == 6:  # a right answer, mutated
        text = list(rng.choice(GOLD_ANSWERS))
        for _ in range(rng.randrange(0, 4)):
            op = rng.randrange(3)
            at = rng.randrange(len(text) + 1)
            if op == 0:
                text.insert(at, rng.choice(SMILES_ALPHABET + "<>/ "))
            elif op == 1 and text:
                del text[min(at, len(text) - 1)]
            elif text:
                text.insert(at, text[min(at, len(text) - 1)])
        return "".join(text)
    return rng.choice(GOLD_ANSWERS)


def as_completion(rng: random.Random, text: str) -> str:
    shape = rng.randrange(4)
    if shape == 0:
        return text
    if shape == 1:
        return f"<think>{random_text(rng)}</think><answer>{text}</answer>"
    if shape == 2:
        return f"<think>x</think><answer>{text}</answer><answer>{random_text(rng)}"
    return f"<answer>{text}</answer>"


def adversarial_texts() -> list[str]:
    deep = "C" + "(C" * 100_000 + ")" * 100_000
    cif_rows = "\n".join(f"Na{i} Na 0.{i % 97:02d} 0.{i % 89:02d} 0.{i % 83:02d} 1" for i in range(300))
    cif_header = "data_x\n_symmetry_space_group_name_H-M 'I m -3 m'\n_cell_length_a 30\n_cell_length_b 30\n_cell_length_c 30\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
    one_line_rows = cif_header + " ".join(f"Na{i} Na 0.{i:03d} 0.5 0.25 1" for i in range(300))
    lying_multiplicity = cif_header.replace("_atom_site_occupancy\n", "_atom_site_occupancy\n_atom_site_symmetry_multiplicity\n") + "\n".join(
        f"Na{i} Na 0.{i % 97:02d} 0.{i % 89:02d} 0.{i % 83:02d} 1 1" for i in range(300)
    )
    return [
        "C" * 1_000_000,
        deep,
        "(" * 100_000,
        "c1" * 50_000,
        "C1" * 2_000,
        "[" * 200_000,
        "C" * 1999,
        "C(" * 999 + "C" + ")" * 999,
        "c1ccc2cc3ccc4cc5ccc6cc7ccccc7cc6cc5cc4cc3cc2c1" * 40,
        "\x00" * 1_000_000,
        "<answer>" * 120_000,
        "<think>" * 60_000 + "</think>" * 60_000,
        "data_x\n" + "_cell_length_a 5\n" * 60_000,
        "data_x\nloop_\n_atom_site_fract_x\n" + "0.1\n" * 200_000,
        cif_header + cif_rows,
        one_line_rows,
        lying_multiplicity,
        "[START_CIF]" + "data_x\n" * 5000,
        "[START_SMILES]" * 70_000,
        "Na " * 300_000 + "<sg225>",
        "Na" + "9" * 100_000,
        "<sg" + "9" * 100_000 + ">",
        "\ud800" * 100_000,
        "Acylation " * 100_000,
        ", ".join(["Acylation", "Reduction"] * 20_000),
        "B" * 1_000_000,
        "true " * 200_000,
    ]


def run_all(completions, timings):
    """Every reward and metric on a batch; checks the contract; records per-call time."""
    start = time.perf_counter()
    parsed = [parse_completion(c) for c in completions]
    timings.append((time.perf_counter() - start) / max(1, len(completions)))
    assert all(isinstance(p.problems, list) for p in parsed)
    reasoned = [p.think is not None and any(ch.isalnum() for ch in p.think) for p in parsed]
    assert format_reward(completions) == [1.0 if p.well_formed and r else 0.0 for p, r in zip(parsed, reasoned)]
    for name, example in EXAMPLES.items():
        task = get_task(name)
        columns = {k: ([v] * len(completions) if k != "known_compositions" else v) for k, v in example.items()}
        for reward in task.rewards:
            start = time.perf_counter()
            values = reward.fn(completions, **columns)
            timings.append((time.perf_counter() - start) / max(1, len(completions)))
            assert len(values) == len(completions), (name, reward.fn)
            assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in values), (name, values)
        for completion in completions:
            start = time.perf_counter()
            assert task.top1(completion, example) in (True, False)
            timings.append(time.perf_counter() - start)


def test_fuzz_random_completions():
    rng = random.Random(SEED)
    texts = [random_text(rng) for _ in range(N_RANDOM)]
    completions = [as_completion(rng, t) for t in texts]
    assert len(set(completions)) > 5_000  # mostly distinct, not one string 10k times
    timings: list[float] = []
    for start in range(0, len(completions), 64):  # GRPO-sized batches
        run_all(completions[start : start + 64], timings)
    assert max(timings) < MAX_CALL_S


@pytest.mark.parametrize("index", range(len(adversarial_texts())))
def test_fuzz_adversarial_inputs(index):
    text = adversarial_texts()[index]
    timings: list[float] = []
    for completion in (text, f"<think>t</think><answer>{text}</answer>", f"<think>{text}</think><answer>B</answer>"):
        run_all([completion], timings)
    assert max(timings) < MAX_CALL_S, max(timings)


def test_fuzz_odd_example_fields_are_skipped_or_scored():
    """Gold fields are data, not model output, but a corrupt row must not crash a reward."""
    rng = random.Random(SEED + 1)
    odd_values = [None, "", "C1CC", 42, float("nan"), float("inf"), 10**400, ["Na"], {"x": 1}, "\x00", "Z" * 100_000, [], "Acylation", "Q"]
    for name, example in EXAMPLES.items():
        task = get_task(name)
        for key in example:
            for value in odd_values:
                broken = dict(example, **{key: value})
                completion = as_completion(rng, rng.choice(GOLD_ANSWERS))
                columns = {k: [v] for k, v in broken.items()}
                for reward in task.rewards:
                    (result,) = reward.fn([completion], **columns)
                    assert result is None or math.isfinite(result)
                assert task.top1(completion, broken) in (True, False)
