"""Optional: label reactions with rxn-insight's rule-based classifier, offline.

rxn-insight (``pip install --no-deps rxn-insight==0.1.3 rdchiral==1.1.0``) classifies
an atom-mapped reaction into the ten MiST classes or "Oxidation" from its bond and
functional-group changes, about 3 ms per reaction, with no network and no torch.

Limits, measured with rxn-insight 0.1.3:

* Only atom-mapped reactions (schneider50k, rxn-insight's own set) are labelled here
  (``keep_mapping=True``). Unmapped ones would need rxnmapper, whose 0.4.3 wheel ships
  its model weights (3.2 MB) but requires ``transformers<5``, which clashes with this
  project's transformers; installing rxn-insight with its dependencies would downgrade
  transformers, tokenizers and huggingface-hub, so don't.
* ``import rxn_insight`` pulls ``requests`` for its name look-ups (web services); only
  ``rxn_insight.classification`` is imported here, which makes no network call.

``python -m mist_pl.tasks.sources.rxn_insight_labels --raw-dir data/raw --sample 500``
prints its agreement with the Schneider-derived classes.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from mist_pl.tasks.examples import Tally
from mist_pl.tasks.sources import layout, reaction_classes
from mist_pl.tasks.sources.raw_reactions import read_schneider


def rxn_insight_unavailable() -> str | None:
    """None if rxn-insight's classifier can be imported, else why not."""
    try:
        import rxn_insight.classification  # noqa: F401
    except ImportError as error:
        return f"rxn-insight is not installed ({error}); pip install --no-deps rxn-insight==0.1.3 rdchiral==1.1.0"
    return None


def label_with_rxn_insight(mapped_reaction: str) -> str | None:
    """rxn-insight's class for an atom-mapped reaction (one of the ten MiST classes or
    "Oxidation"), or None when it cannot classify it (it raises on some mappings)."""
    from rxn_insight.classification import ReactionClassifier

    try:
        return ReactionClassifier(mapped_reaction, keep_mapping=True, search_template=False).classify_reaction()
    except Exception:  # noqa: BLE001 - its failures (KeyError, ValueError, RDKit errors) mean "no label"
        return None


def agreement(raw_dir: Path, sample: int = 500, seed: int = 0, policy: str = "oxidation") -> dict:
    """Compare rxn-insight with the Schneider-derived class on a seeded sample.

    With ``policy="oxidation"`` both sides keep "Oxidation" as its own label, so the
    comparison is not blurred by the ten-class mapping."""
    rows = list(read_schneider(layout.raw_file(raw_dir, layout.SCHNEIDER), Tally()))
    chosen = random.Random(seed).sample(rows, min(sample, len(rows)))
    confusion: Counter = Counter()
    failed = 0
    for row in chosen:
        expected = reaction_classes.from_schneider(row.label or "", policy)
        predicted = label_with_rxn_insight(row.reaction)
        if predicted is None:
            failed += 1
            continue
        confusion[(expected, reaction_classes.from_rxn_insight(predicted, policy))] += 1
    labelled = sum(confusion.values())
    agree = sum(n for (a, b), n in confusion.items() if a == b)
    per_class: dict[str, dict] = {}
    for (expected, predicted), n in confusion.items():
        entry = per_class.setdefault(str(expected), {"n": 0, "agree": 0, "predicted": Counter()})
        entry["n"] += n
        entry["agree"] += n if expected == predicted else 0
        entry["predicted"][str(predicted)] += n
    return {
        "sample": len(chosen),
        "labelled": labelled,
        "failed": failed,
        "agreement": round(agree / labelled, 4) if labelled else None,
        "per_class": {k: {**v, "predicted": dict(v["predicted"].most_common(3))} for k, v in sorted(per_class.items())},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mist_pl.tasks.sources.rxn_insight_labels", description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw-dir", type=Path, default=layout.DEFAULT_RAW_DIR)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    reason = rxn_insight_unavailable()
    if reason:
        print(reason)
        return 1
    print(json.dumps(agreement(args.raw_dir, args.sample, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
