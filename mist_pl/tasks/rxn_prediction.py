"""Forward reaction prediction (RxP): reactants SMILES -> product SMILES.

Reward (:func:`rxn_prediction_reward`): ``CORRECT`` (+1) when the answer is the gold
product (compared as RDKit canonical SMILES, so any valid spelling counts),
``VALID_WRONG`` (-0.5) for a valid but different molecule, ``INVALID`` (-1) for an
unparseable answer or none.

Valid answer (:func:`valid_answer`): any SMILES RDKit reads, the check every SMILES task
shares (:func:`~mist_pl.tasks.answer.valid_smiles_answer`); no chance top-1 (open-ended).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mist_pl.chem import smiles as chem_smiles
from mist_pl.runtime.protocol import per_example
from mist_pl.tasks.answer import answer_instructions, answer_smiles, canonical_gold, format_reward, valid_smiles_answer
from mist_pl.tasks.examples import Examples, read_lines
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.sources.fixture_examples import mist_demo_files
from mist_pl.tasks.splits import canonical_reaction, molecule_key
from mist_pl.tasks.traces import molecule_line, reaction_change_lines, wrap

CORRECT = 1.0
VALID_WRONG = -0.5
INVALID = -1.0

NAME = "rxn_prediction"


def score_rxn_prediction(completion: Any, example: Mapping[str, Any]) -> float | None:
    gold = canonical_gold(example.get("answer"))
    if gold is None:
        return None  # unscorable example (the loader drops these)
    predicted = answer_smiles(completion)
    if predicted is None:
        return INVALID
    return CORRECT if predicted == gold else VALID_WRONG


rxn_prediction_reward = per_example(score_rxn_prediction, task=NAME)


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    return score_rxn_prediction(completion, example) == CORRECT


valid_answer = valid_smiles_answer  # any SMILES RDKit reads, right or wrong


def build_prompt(example: Mapping[str, Any]) -> str:
    return (
        f"Predict the main product of the reaction of these reactants (SMILES):\n{example['reactants']}\n"
        + answer_instructions("the product as a single SMILES string", "SMILES")
    )


def load_examples(path: Path | str) -> list[dict]:
    """Examples from a ``src-*.txt`` file (one reactants SMILES per line) and its sibling
    ``tgt-*.txt`` (products). Pass either file. Lines whose gold product is not a valid
    SMILES, or with an empty side, are skipped and recorded."""
    path = Path(path)
    if path.name.startswith("tgt-"):
        path = path.with_name("src-" + path.name[4:])
    target = path.with_name("tgt-" + path.name[4:]) if path.name.startswith("src-") else None
    if target is None or not target.exists():
        raise ValueError(f"{path}: expected a src-*.txt file with a tgt-*.txt next to it")
    sources, targets = read_lines(path), read_lines(target)
    examples = Examples()
    if len(sources) != len(targets):
        examples.skip(str(path), f"{len(sources)} source lines but {len(targets)} target lines; extra lines ignored")
    for (where, reactants), (_, product) in zip(sources, targets):
        if not reactants or not product:
            examples.skip(where, "empty line")
        elif canonical_gold(product) is None:
            examples.skip(where, f"gold product is not a valid SMILES: {product[:60]!r}")
        else:
            examples.append({"reactants": reactants, "answer": product, "origin": where})
    return examples.report(f"rxn_prediction {path}")


def largest_reactant(examples) -> list[str | None]:
    """No-model rule: the reactant with the most heavy atoms as the product (many
    reactions decorate their largest reactant)."""
    answers: list[str | None] = []
    for example in examples:
        molecules = [m for m in str(example.get("reactants", "")).split(".") if m]
        answers.append(max(molecules, key=_heavy_atoms) if molecules else None)
    return answers


def _heavy_atoms(smiles: str) -> int:
    mol = chem_smiles.parse(smiles)
    return mol.GetNumHeavyAtoms() if mol is not None else -1


def split_key(example: Mapping[str, Any]) -> str | None:
    """The gold product's InChIKey: the key every reaction task splits by."""
    product = example.get("answer")
    return molecule_key(product) if isinstance(product, str) else None


def dedupe_key(example: Mapping[str, Any]) -> str | None:
    """The canonical reaction ``reactants>>answer``."""
    return canonical_reaction(f"{example.get('reactants', '')}>>{example.get('answer', '')}")


def sft_trace(example: Mapping[str, Any]) -> str | None:
    """The reaction's computed changes and the product's facts, then the canonical product."""
    gold = canonical_gold(example.get("answer"))
    lines = reaction_change_lines(example)
    product_line = molecule_line(gold) if gold else None
    if gold is None or lines is None or product_line is None:
        return None
    lines.append(f"The product: {product_line}.")
    return wrap("\n".join(lines), gold)


TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(rxn_prediction_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="reactants SMILES -> product SMILES",
        valid=valid_answer,
        baselines={"copy_largest_reactant": largest_reactant},
        split_key=split_key,
        dedupe_key=dedupe_key,
        sft_trace=sft_trace,
        fixture_examples=mist_demo_files(load_examples, "rxnpred_tiny/src-train.txt", "rxnpred_tiny/src-test.txt"),
        # every cleaned reaction: schneider50k, rxn-insight, ORD (and uspto_yields on request)
        raw_examples="mist_pl.tasks.sources.raw_examples:rxn_prediction_examples",
    )
)
