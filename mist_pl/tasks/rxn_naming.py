"""Reaction naming (RxN): reaction SMILES -> one of ten reaction classes.

Reward (:func:`rxn_naming_reward`):

* ``CORRECT`` (+1) for the gold class, ``VALID_WRONG`` (+0.2) for another of the ten
  classes, ``INVALID`` (-0.2) for anything else or no answer;
* plus ``THINK_BONUS`` (+0.1) when the answer is right and the ``<think>`` text names
  the gold class and at most ``MAX_CLASSES_FOR_BONUS - 1`` other: a right answer the
  reasoning arrived at. Paid only with the right answer, because a bonus for a class
  named in the reasoning is a second guess (name one class there, answer another) and
  listing classes must not pay at all.

Class names match ignoring case, runs of whitespace, the kind of dash, spaces around
a dash and one trailing full stop ("c–c  coupling." is "C-C Coupling").

Valid answer (:func:`valid_answer`): the answer block names one of the ten classes,
right or wrong; guessing uniformly among them scores :data:`CHANCE_TOP1`.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mist_pl.runtime.protocol import per_example
from mist_pl.tasks.answer import answer_instructions, format_reward, parse_completion
from mist_pl.tasks.examples import Examples, Tally, read_csv_rows
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.sources.layout import CLASS_SAMPLE, require
from mist_pl.tasks.splits import canonical_reaction, reaction_product_key
from mist_pl.tasks.traces import ReactionChanges, listing, reaction_change_lines, reaction_changes, wrap

REACTION_CLASSES = (
    "Acylation",
    "Aromatic Heterocycle Formation",
    "C-C Coupling",
    "Deprotection",
    "Functional Group Addition",
    "Functional Group Interconversion",
    "Heteroatom Alkylation and Arylation",
    "Miscellaneous",
    "Protection",
    "Reduction",
)

CORRECT = 1.0
VALID_WRONG = 0.2
INVALID = -0.2
THINK_BONUS = 0.1
CHANCE_TOP1 = 1 / len(REACTION_CLASSES)  # top-1 of a uniform guess among the classes
MAX_CLASSES_FOR_BONUS = 2
MAX_ANSWER_CHARS = 200  # longer answers cannot be a class name; don't normalize megabytes
MAX_THINK_SCAN_CHARS = 50_000  # only the reasoning's tail is searched for the bonus

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2212"

NAME = "rxn_naming"


def normalize_class(text: str) -> str:
    """Case-, whitespace- and dash-insensitive form of a class name."""
    for dash in _DASHES:
        text = text.replace(dash, "-")
    text = " ".join(text.casefold().split())
    text = text.replace(" -", "-").replace("- ", "-")
    return text[:-1].rstrip() if text.endswith(".") else text


_CANONICAL = {normalize_class(c): c for c in REACTION_CLASSES}


def answer_class(answer: object) -> str | None:
    """The canonical class an answer names, or None if it names none."""
    if not isinstance(answer, str) or len(answer) > MAX_ANSWER_CHARS:
        return None
    return _CANONICAL.get(normalize_class(answer))


def _mentions(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words ("protection" is not in
    "deprotection")."""
    at = text.find(phrase)
    while at != -1:
        before = text[at - 1] if at else " "
        end = at + len(phrase)
        after = text[end] if end < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        at = text.find(phrase, at + 1)
    return False


def classes_named(think: str | None) -> set[str]:
    """The canonical classes a piece of reasoning names."""
    if not think:
        return set()
    text = normalize_class(think[-MAX_THINK_SCAN_CHARS:])
    return {_CANONICAL[key] for key in _CANONICAL if _mentions(text, key)}


def score_rxn_naming(completion: Any, example: Mapping[str, Any]) -> float | None:
    gold = answer_class(example.get("answer"))
    if gold is None:
        return None  # an example without a known class cannot be scored
    parsed = parse_completion(completion)
    named = answer_class(parsed.answer)
    reward = INVALID if named is None else CORRECT if named == gold else VALID_WRONG
    mentioned = classes_named(parsed.think)
    if named == gold and gold in mentioned and len(mentioned) <= MAX_CLASSES_FOR_BONUS:
        reward += THINK_BONUS
    return reward


rxn_naming_reward = per_example(score_rxn_naming, task=NAME)


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    gold = answer_class(example.get("answer"))
    return gold is not None and answer_class(parse_completion(completion).answer) == gold


def valid_answer(completion: Any, example: Mapping[str, Any]) -> bool:
    """Whether the completion's answer block names one of the ten classes (right or wrong)."""
    return answer_class(parse_completion(completion).answer) is not None


def build_prompt(example: Mapping[str, Any]) -> str:
    classes = "; ".join(REACTION_CLASSES)
    return (
        f"Classify this reaction, given as reaction SMILES (reactants>>products):\n{example['reaction']}\n"
        f"Choose exactly one class from: {classes}.\n"
        + answer_instructions("the class name exactly as written above", "class name")
    )


# Column names seen in reaction-class files (ours, rxn-insight exports, schneider-like
# TSVs, and REACTION_PROMPT,CLASS of the MiST reference code's reaction-naming data),
# matched ignoring case; the first present in this order is used.
REACTION_COLUMNS = ("reaction", "rxn_smiles", "rxn", "reaction_smiles", "reaction_prompt")
CLASS_COLUMNS = ("class", "label", "reaction_class")


def find_columns(header: list[str], reaction_column: str | None = None, class_column: str | None = None,
                 where: object = "file") -> tuple[str, str]:
    """The header's reaction and class columns: the named ones (exact names), else the
    first of :data:`REACTION_COLUMNS` / :data:`CLASS_COLUMNS` present, ignoring case.
    ValueError naming the header when one is not there."""
    by_lower = {}
    for name in header:
        by_lower.setdefault(name.strip().casefold(), name)

    def pick(named: str | None, known: tuple[str, ...], what: str, flag: str) -> str:
        if named is not None:
            if named not in header:
                raise ValueError(f"{where}: {flag}={named!r} is not a column; header is {header}")
            return named
        found = next((by_lower[k] for k in known if k in by_lower), None)
        if found is None:
            raise ValueError(f"{where}: no {what} column (one of {known}, any case; or name it with {flag}); "
                             f"header is {header}")
        return found

    return (pick(reaction_column, REACTION_COLUMNS, "reaction", "reaction_column"),
            pick(class_column, CLASS_COLUMNS, "class", "class_column"))


def load_examples(path: Path | str, reaction_column: str | None = None, class_column: str | None = None) -> list[dict]:
    """Examples from a CSV with a reaction SMILES column and a class column.

    The columns are found by name (:func:`find_columns`: ``reaction``, ``rxn_smiles``,
    ``REACTION_PROMPT``, ... and ``class``, ``label``, ``CLASS``, ...), or named exactly
    with ``reaction_column`` / ``class_column`` for any other layout. Rows whose class is
    not one of the ten, or whose reaction has no ``>``, are skipped and recorded."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    reaction_col, class_col = find_columns(header, reaction_column, class_column, path)
    examples = Examples()
    for where, row in read_csv_rows(path, [reaction_col, class_col], examples):
        gold = answer_class(row[class_col])
        if gold is None:
            examples.skip(where, f"unknown reaction class {row[class_col][:60]!r}")
        elif ">" not in row[reaction_col]:
            examples.skip(where, "not a reaction SMILES")
        else:
            examples.append({"reaction": row[reaction_col], "answer": gold, "origin": where})
    return examples.report(f"rxn_naming {path}")


def class_sample_examples(path: Path, tally: Tally, limit: int | None = None) -> list[dict]:
    """Examples from a ``reaction,mapped_reaction,class,source`` CSV (the class sample the
    package ships, :mod:`mist_pl.tasks.sources.class_sample`); rows it drops are counted in
    ``tally``."""
    examples = []
    with require(path, "the shipped reaction-class sample").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            gold = answer_class(row.get("class") or "")
            if gold is None or ">" not in (row.get("reaction") or ""):
                tally.drop("unknown class or not a reaction", where)
                continue
            examples.append(
                {
                    "reaction": row["reaction"],
                    "mapped_reaction": row.get("mapped_reaction") or None,
                    "answer": gold,
                    "origin": row.get("origin") or where,  # the record in its original data set
                    "source": row.get("source") or "sample",
                }
            )
            if limit is not None and len(examples) >= limit:
                break
    return examples


def fixture_examples(options, tally: Tally) -> list[dict]:
    """``build --source fixtures``: the mist-demo fixtures have no reaction-class file, so
    this reads :data:`~mist_pl.tasks.sources.layout.CLASS_SAMPLE`, a small real sample
    shipped with the package (``options.limit`` examples at most)."""
    return class_sample_examples(CLASS_SAMPLE, tally, options.limit)


def dedupe_key(example: Mapping[str, Any]) -> str | None:
    """The canonical reaction (agents counted as reactants)."""
    return canonical_reaction(example.get("reaction"))


def sft_trace(example: Mapping[str, Any]) -> str | None:
    """The reaction's computed bond and functional-group changes, then the gold class."""
    gold = answer_class(example.get("answer"))
    lines = reaction_change_lines(example)
    if gold is None or lines is None:
        return None
    lines.append(f"These changes are characteristic of the class {gold}.")
    return wrap("\n".join(lines), gold)


def corpus_documents(examples: Sequence[Mapping[str, Any]], seed: int = 0) -> list[str]:
    """The CPT corpus of (training) reactions (``Task.corpus``): a paragraph per reaction
    (:func:`corpus_document`), then one overview per class (:func:`class_overviews`). Each
    reaction's changes are computed once for both."""
    known = [(e, gold, changes) for e in examples
             if (gold := answer_class(e.get("answer"))) and (changes := reaction_changes(e)) is not None]
    documents = [d for e, gold, changes in known if (d := corpus_document(e, gold, changes, seed))]
    return documents + class_overviews((gold, changes) for _, gold, changes in known)


def corpus_document(example: Mapping[str, Any], gold: str, changes: ReactionChanges, seed: int = 0) -> str | None:
    """A paragraph about one (training) reaction of class ``gold`` for the CPT corpus, as a
    textbook or a patent would write it: the reaction as the task's prompt shows it, its
    class, and the computed bonds and functional groups that change (``changes``, from
    :func:`~mist_pl.tasks.traces.reaction_changes`). None without a reaction text."""
    reaction = example.get("reaction")
    if not isinstance(reaction, str):
        return None
    rng = random.Random(f"{seed}|{reaction}")
    bonds = f"bonds formed: {listing(changes.formed)}; bonds broken: {listing(changes.broken)}"
    groups = (f"functional groups formed: {listing(changes.groups_formed)}; "
              f"consumed: {listing(changes.groups_consumed)}")
    opening = rng.choice((
        f"Reaction: {reaction}\nClass: {gold}.",
        f"Example ({gold}). The reaction {reaction} is a {gold} reaction.",
        f"Patent procedure, reaction class {gold}: {reaction}",
        f"Which class does {reaction} belong to? It is {gold}.",
    ))
    reason = rng.choice((
        f"In it, {bonds}; {groups}. These changes mark it as {gold}.",
        f"What changes: {bonds}. {groups[0].upper() + groups[1:]}. Such changes are typical of {gold}.",
    ))
    return f"{opening}\n{reason}"


def class_overviews(classified: Iterable[tuple[str, ReactionChanges]]) -> list[str]:
    """One textbook paragraph per class: the bonds and functional groups its (training)
    reactions change most often, counted over ``(class, changes)`` pairs."""
    tallies: dict[str, dict[str, Counter]] = {}
    for gold, changes in classified:
        tally = tallies.setdefault(gold, {k: Counter() for k in ("n", "formed", "broken", "made", "used")})
        tally["n"]["reactions"] += 1
        tally["formed"].update(set(changes.formed))
        tally["broken"].update(set(changes.broken))
        tally["made"].update(set(changes.groups_formed))
        tally["used"].update(set(changes.groups_consumed))
    return [
        f"Reaction class {gold}. Over {t['n']['reactions']} example reactions, the bonds most often formed are "
        f"{listing(t['formed'])}, the bonds most often broken {listing(t['broken'])}; functional groups most often "
        f"formed: {listing(t['made'])}; consumed: {listing(t['used'])} (counts: reactions showing each)."
        for gold, t in sorted(tallies.items())
    ]


TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(rxn_naming_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="reaction SMILES -> one of 10 reaction classes",
        valid=valid_answer,
        chance_top1=CHANCE_TOP1,
        choices=lambda example: REACTION_CLASSES,
        # Copying the reaction is no class: 0% by construction, printed so that it is seen.
        baselines={"copy_request": lambda examples: [e.get("reaction") for e in examples]},
        split_key=reaction_product_key,
        dedupe_key=dedupe_key,
        sft_trace=sft_trace,
        corpus=corpus_documents,
        label_column="answer",
        fixture_examples=fixture_examples,
        # schneider50k (classes mapped to the ten) + rxn-insight's 1,000 reactions
        raw_examples="mist_pl.tasks.sources.raw_examples:rxn_naming_examples",
        example_file=CLASS_SAMPLE,
    )
)
