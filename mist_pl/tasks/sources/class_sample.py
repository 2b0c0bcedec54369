"""Make the small reaction-class sample shipped for the offline demo.

``python -m mist_pl.tasks.sources.class_sample --raw-dir data/raw`` writes
``samples/reaction_classes.csv``: ``per_class`` real reactions of each MiST class from
schneider50k and rxn-insight's 1,000 (the only source of Aromatic Heterocycle
Formation), chosen by a seeded hash so the file is reproducible. Reactions are
stored as the build shows them (canonical, agents folded in) next to their atom-mapped
form, which the SFT traces use.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

from mist_pl.tasks.examples import Tally
from mist_pl.tasks.sources.layout import CLASS_SAMPLE, DEFAULT_RAW_DIR
from mist_pl.tasks.sources.raw_examples import RawOptions, reaction_pool
from mist_pl.tasks.sources.reaction_examples import naming_examples

FIELDS = ("reaction", "mapped_reaction", "class", "source", "origin")


def write_class_sample(raw_dir: Path, out: Path = CLASS_SAMPLE, per_class: int = 60, seed: int = 0) -> dict[str, int]:
    tally = Tally()
    pool = reaction_pool(RawOptions(raw_dir=raw_dir, reaction_sources=("schneider", "rxn_insight")), tally, labelled_only=True)
    examples = naming_examples(pool, tally, per_class, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for e in examples:
            origin = e["origin"].split("/")[-1]  # file name and line, not this machine's path
            writer.writerow({"reaction": e["reaction"], "mapped_reaction": e["mapped_reaction"] or "", "class": e["answer"], "source": e["source"], "origin": origin})
            counts[e["answer"]] = counts.get(e["answer"], 0) + 1
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mist_pl.tasks.sources.class_sample", description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw-dir", type=Path, default=DEFAULT_RAW_DIR)
    parser.add_argument("--out", type=Path, default=CLASS_SAMPLE)
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_class_sample(args.raw_dir, args.out, args.per_class, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
