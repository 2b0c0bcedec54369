"""CCS, chemical knowledge: does the model find true chemical statements likelier than
the same statements with a wrong value?

Statements come from task data (:mod:`mist_pl.diagnostics.statements`): a reaction with
its real vs another reaction's product, a name with its real vs another molecule's
SMILES, a formula with its real vs another record's space group. Each side is scored as
the mean token log-prob of the value span after the shared prefix; effect sizes are
reported over all statements and per kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.diagnostics.effect_sizes import FORMULAS
from mist_pl.diagnostics.paired import score_pairs, summarize
from mist_pl.diagnostics.report import DiagnosticResult
from mist_pl.diagnostics.scoring import OK
from mist_pl.diagnostics.statements import Fact, attach_wrong_values

NAME = "ccs"
NO_WRONG_VALUE = "no_wrong_value"


def run_ccs(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    facts: Sequence[Fact],
    *,
    seed: int = 0,
    batch_size: int = 16,
    max_length: int | None = None,
) -> DiagnosticResult:
    statements, unmatched = attach_wrong_values(facts, seed=seed)
    scores = score_pairs(model, tokenizer, [s.pair() for s in statements], batch_size, max_length)
    rows = []
    for statement, score in zip(statements, scores):
        fact = statement.fact
        rows.append({"kind": fact.kind, "origin": fact.origin, "prefix": fact.prefix, "true": fact.value,
                     "corrupt": statement.wrong_value, **score.row()})
    for fact in unmatched:
        rows.append({"kind": fact.kind, "origin": fact.origin, "prefix": fact.prefix, "true": fact.value,
                     "status": NO_WRONG_VALUE})

    kinds = sorted({s.fact.kind for s in statements})
    per_kind = {k: summarize([sc for st, sc in zip(statements, scores) if st.fact.kind == k]) for k in kinds}
    counts = Counter(row["status"] for row in rows)
    summary = {
        "diagnostic": "CCS (chemical knowledge score)",
        "metrics": {**summarize(scores), "by_kind": per_kind},
        "counts": {"read": len(rows), "scored": counts.get(OK, 0), **{k: v for k, v in counts.items() if k != OK}},
        "definition": {
            "score": "mean token log-prob of the value span (product SMILES, molecule SMILES, space-group number)",
            "corruption": "the value replaced by a different value of the same kind from another statement, "
            "drawn by random.Random(f'{seed}\\0{kind}\\0{prefix}\\0{key}')",
            "seed": seed,
            **FORMULAS,
        },
    }
    return DiagnosticResult(NAME, rows, summary)
