"""SCS, symbolic competence: does the model find valid SMILES likelier than broken ones?

For each molecule: RDKit-canonicalize it, corrupt the canonical string
(:mod:`mist_pl.diagnostics.corruption`), and score both as the SMILES span of the same
fixed prompt (:data:`DEFAULT_TEMPLATE`): the mean token log-prob of the SMILES tokens
between ``[START_SMILES]`` and ``[END_SMILES]`` (the closing tag is not scored). The
effect sizes of canonical over corrupted are in :mod:`mist_pl.diagnostics.effect_sizes`.

Skipped and counted, never fatal: SMILES RDKit cannot read (``invalid_smiles``),
molecules without any ``()[]0-9`` character to delete (``nothing_to_corrupt``) and
pairs one side of which could not be scored (``too_long``, ``non_finite``, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.chem.smiles import canonicalize
from mist_pl.diagnostics.corruption import CORRUPTIBLE, DEFAULT_FRACTION, corrupt_smiles
from mist_pl.diagnostics.effect_sizes import FORMULAS
from mist_pl.diagnostics.paired import Pair, score_pairs, summarize
from mist_pl.diagnostics.report import DiagnosticResult
from mist_pl.diagnostics.scoring import OK

NAME = "scs"
PLACEHOLDER = "{smiles}"
DEFAULT_TEMPLATE = "Molecule: [START_SMILES]{smiles}[END_SMILES]"
INVALID_SMILES = "invalid_smiles"
NOTHING_TO_CORRUPT = "nothing_to_corrupt"


def template_prefix(template: str) -> str:
    """The text before ``{smiles}``; the template must contain it exactly once."""
    if template.count(PLACEHOLDER) != 1:
        raise ValueError(f"SCS template must contain {PLACEHOLDER} exactly once: {template!r}")
    return template.split(PLACEHOLDER)[0]


def run_scs(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    smiles: Sequence[str],
    *,
    seed: int = 0,
    fraction: float = DEFAULT_FRACTION,
    template: str = DEFAULT_TEMPLATE,
    batch_size: int = 16,
    max_length: int | None = None,
) -> DiagnosticResult:
    prefix = template_prefix(template)
    rows: list[dict] = []
    pairs: list[Pair] = []
    pair_rows: list[dict] = []
    for index, text in enumerate(smiles):
        row = {"index": index, "input": text}
        rows.append(row)
        canonical = canonicalize(text)
        if canonical is None:
            row["status"] = INVALID_SMILES
            continue
        row["canonical"] = canonical
        corruption = corrupt_smiles(canonical, seed=seed, fraction=fraction)
        if corruption is None:
            row["status"] = NOTHING_TO_CORRUPT
            continue
        row.update(corrupted=corruption.text, n_corruptible=corruption.n_corruptible, n_deleted=corruption.n_deleted)
        pairs.append(Pair(prefix, canonical, corruption.text))
        pair_rows.append(row)
    scores = score_pairs(model, tokenizer, pairs, batch_size, max_length)
    for row, score in zip(pair_rows, scores):
        row.update(score.row())

    counts = Counter(row["status"] for row in rows)
    summary = {
        "diagnostic": "SCS (symbolic competence score)",
        "metrics": summarize(scores),
        "counts": {"read": len(rows), "scored": counts.get(OK, 0), **{k: v for k, v in counts.items() if k != OK}},
        "definition": {
            "score": "mean token log-prob of the SMILES span (between the tags, closing tag excluded)",
            "template": template,
            "corruption": f"delete max(1, floor({fraction} * n)) of the n characters in "
            f"{''.join(sorted(CORRUPTIBLE))!r} of the canonical SMILES, chosen by random.Random(f'{{seed}}\\0{{smiles}}')",
            "seed": seed,
            **FORMULAS,
        },
    }
    return DiagnosticResult(NAME, rows, summary)
