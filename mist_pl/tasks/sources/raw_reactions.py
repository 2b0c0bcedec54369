"""Read reactions from the fetched files, one :class:`RawReaction` per row.

* schneider50k.tsv (drfp): ``original_rxn`` (atom-mapped ``reactants>agents>products``)
  and ``rxn_class`` (Schneider id such as ``6.1.5``);
* 1000rxns (rxn-insight, parquet): ``REACTION``, ``MAPPED_REACTION``, ``CLASS``;
* ORDerly parquet files: ``reactant_*``, ``reagent_*``/``catalyst_*``/``solvent_*`` and
  ``product_*`` columns, one compound each (``<missing>`` or empty when absent);
* uspto_yields_*.csv (drfp): ``rxn`` (``reactants>>products``), no class.

Readers yield rows as they come and count malformed ones in a
:class:`~mist_pl.tasks.examples.Tally`; a missing file raises
:class:`~mist_pl.tasks.sources.layout.MissingInput` naming it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mist_pl.tasks.examples import Tally
from mist_pl.tasks.sources.layout import require

ORD_MISSING = "<missing>"
_ORD_AGENT_PREFIXES = ("reagent_", "catalyst_", "solvent_", "agent_")


@dataclass(frozen=True)
class RawReaction:
    """One reaction as a data set gives it. ``reaction`` may carry atom maps; ``label``
    is the data set's own class (Schneider id or rxn-insight class), if any."""

    reaction: str
    origin: str
    source: str
    label: str | None = None
    mapped: bool = False


def _csv_rows(path: Path, delimiter: str, required: tuple[str, ...], tally: Tally) -> Iterator[tuple[str, dict]]:
    require(path)
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; header is {reader.fieldnames}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if any(not (row.get(c) or "").strip() for c in required):
                tally.drop("row lacks a required field", where)
                continue
            yield where, row


def read_schneider(path: Path, tally: Tally, limit: int | None = None) -> Iterator[RawReaction]:
    for n, (where, row) in enumerate(_csv_rows(path, "\t", ("original_rxn", "rxn_class"), tally)):
        if limit is not None and n >= limit:
            return
        yield RawReaction(row["original_rxn"].strip(), where, "schneider50k", row["rxn_class"].strip(), mapped=True)


def read_uspto_yields(path: Path, tally: Tally, limit: int | None = None) -> Iterator[RawReaction]:
    for n, (where, row) in enumerate(_csv_rows(path, ",", ("rxn",), tally)):
        if limit is not None and n >= limit:
            return
        yield RawReaction(row["rxn"].strip(), where, "uspto_yields")


def _parquet_rows(path: Path, columns: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq  # a project dependency; imported here to keep start-up light

    table = pq.read_table(require(path), columns=columns)
    for index, row in enumerate(table.to_pylist(), start=1):
        yield index, row


def read_rxn_insight(path: Path, tally: Tally) -> Iterator[RawReaction]:
    for index, row in _parquet_rows(path, ["REACTION", "MAPPED_REACTION", "CLASS"]):
        where = f"{path}:row{index}"
        mapped = row.get("MAPPED_REACTION")
        plain = row.get("REACTION")
        label = row.get("CLASS")
        if not isinstance(label, str) or not (isinstance(mapped, str) and mapped or isinstance(plain, str) and plain):
            tally.drop("row lacks a required field", where)
            continue
        use_mapped = isinstance(mapped, str) and ">" in mapped
        yield RawReaction((mapped if use_mapped else plain).strip(), where, "rxn_insight", label.strip(), mapped=use_mapped)


def _present(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and value != ORD_MISSING else None


def ord_reaction_from_row(row: dict) -> str | None:
    """``reactants>agents>products`` from an ORDerly row, or None without reactants or products."""
    def column_values(prefixes: tuple[str, ...]) -> list[str]:
        names = sorted(k for k in row if k.startswith(prefixes))
        return [v for v in (_present(row[k]) for k in names) if v]

    reactants = column_values(("reactant_",))
    products = column_values(("product_",))
    if not reactants or not products:
        return None
    agents = column_values(_ORD_AGENT_PREFIXES)
    return f"{'.'.join(reactants)}>{'.'.join(agents)}>{'.'.join(products)}"


def read_ord_reactions(folder: Path, tally: Tally) -> Iterator[RawReaction]:
    """Every ORDerly parquet file in ``folder`` (sorted, so the order is stable)."""
    files = sorted(require(folder).glob("*.parquet"))
    if not files:
        raise ValueError(f"{folder}: no .parquet files")
    for path in files:
        for index, row in _parquet_rows(path):
            where = f"{path}:row{index}"
            reaction = ord_reaction_from_row(row)
            if reaction is None:
                tally.drop("ORD reaction without reactants or products", where)
            else:
                yield RawReaction(reaction, where, "orderly")
