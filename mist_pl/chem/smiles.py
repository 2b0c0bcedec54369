"""Single molecules as SMILES: parse, validate, canonicalize, randomize, compare.

Every function here accepts arbitrary text (model output, corrupt records) and
answers ``None`` / ``False`` instead of raising. Work is bounded before RDKit
sees the string: anything longer than :data:`MAX_SMILES_LEN`, with whitespace or
non-ASCII characters, or with branches nested deeper than
:data:`MAX_BRANCH_DEPTH` is refused on the spot. RDKit's own time on a string of
that length stays in the tens of milliseconds even for adversarial inputs (long
chains, cages, many ring closures; see tests/chem/test_smiles_bounds.py).

"Canonical" means exactly RDKit's ``Chem.MolToSmiles(Chem.MolFromSmiles(s))``
(isomeric unless asked otherwise), so canonical strings written by this module
compare equal to those written by plain RDKit code elsewhere.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import rdFingerprintGenerator

from mist_pl.chem.rdkit_quiet import quiet_rdkit

MAX_SMILES_LEN = 2000
"""Longest string handed to RDKit (characters). Real drug-like and PubChem
molecules are far below this; RDKit's writer is quadratic on long chains, so the
cap is what bounds the time per call."""

MAX_BRANCH_DEPTH = 100
"""Deepest parenthesis nesting accepted; real molecules rarely exceed 10."""

MAX_RANDOM_ROUNDS = 4
"""How many batches of random SMILES :func:`randomize` draws before giving up on
finding ``n`` distinct variants (small molecules have only a few)."""

_WHITESPACE = re.compile(r"\s")


def _precheck(smiles: object) -> str | None:
    """The stripped string if it may go to RDKit, else None (cheap checks only)."""
    if not isinstance(smiles, str) or len(smiles) > MAX_SMILES_LEN + 64:
        return None
    text = smiles.strip()
    if not text or len(text) > MAX_SMILES_LEN or not text.isascii():
        return None
    # RDKit would read "CCO ethanol" as SMILES + name; inside our data a space
    # means the string is not one SMILES.
    if _WHITESPACE.search(text):
        return None
    # Counting is C speed; the exact depth scan only runs for suspicious strings.
    if text.count("(") > MAX_BRANCH_DEPTH and _branch_depth(text) > MAX_BRANCH_DEPTH:
        return None
    return text


def _branch_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


def precheck_problem(smiles: object) -> str | None:
    """Why :func:`parse` would refuse ``smiles`` before calling RDKit, or None."""
    if not isinstance(smiles, str):
        return f"not a string ({type(smiles).__name__})"
    text = smiles.strip()
    if not text:
        return "empty"
    if len(text) > MAX_SMILES_LEN:
        return f"longer than MAX_SMILES_LEN={MAX_SMILES_LEN} characters ({len(text)})"
    if not text.isascii():
        return "contains non-ASCII characters"
    if _WHITESPACE.search(text):
        return "contains whitespace"
    if _branch_depth(text) > MAX_BRANCH_DEPTH:
        return f"branches nested deeper than MAX_BRANCH_DEPTH={MAX_BRANCH_DEPTH}"
    return None


def parse(smiles: object) -> Chem.Mol | None:
    """A sanitized RDKit molecule, or None for anything that is not valid SMILES.

    Never raises and never prints: RDKit's log is blocked for the call.
    """
    text = _precheck(smiles)
    if text is None:
        return None
    blocker = rdBase.BlockLogs()  # noqa: F841 - logs stay blocked while it lives
    try:
        return _parse_checked(text)
    finally:
        del blocker


def _parse_checked(text: str) -> Chem.Mol | None:
    """RDKit parse of a pre-checked string; the caller blocks the log."""
    try:
        mol = Chem.MolFromSmiles(text)
    except Exception:  # RDKit raises on a few malformed inputs instead of returning None
        return None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


def parse_with_messages(smiles: object) -> tuple[Chem.Mol | None, list[str]]:
    """Like :func:`parse`, plus the reasons for a failure (for data reports)."""
    problem = precheck_problem(smiles)
    if problem is not None:
        return None, [problem]
    with quiet_rdkit(capture=True) as messages:
        try:
            mol = Chem.MolFromSmiles(smiles.strip())
        except Exception as error:
            return None, [f"RDKit raised {type(error).__name__}: {error}"]
    if mol is None:
        return None, messages.lines or ["RDKit could not parse the SMILES"]
    if mol.GetNumAtoms() == 0:
        return None, ["no atoms"]
    return mol, []


def is_valid(smiles: object) -> bool:
    """True if RDKit parses and sanitizes ``smiles`` into at least one atom."""
    return parse(smiles) is not None


def mol_to_canonical(mol: Chem.Mol, isomeric: bool = True) -> str | None:
    """RDKit's canonical SMILES for an already parsed molecule."""
    blocker = rdBase.BlockLogs()  # noqa: F841
    try:
        return _write_canonical(mol, isomeric)
    finally:
        del blocker


def _write_canonical(mol: Chem.Mol, isomeric: bool) -> str | None:
    try:
        # positional, not isomericSmiles=...: Boost.Python keyword matching costs
        # several microseconds per call, measurable next to a ~60 us round trip
        return Chem.MolToSmiles(mol, isomeric) or None
    except Exception:
        return None


def canonicalize(smiles: object, isomeric: bool = True) -> str | None:
    """RDKit canonical SMILES, or None if ``smiles`` is not valid.

    ``isomeric=False`` drops stereochemistry and isotopes.
    """
    text = _precheck(smiles)
    if text is None:
        return None
    blocker = rdBase.BlockLogs()  # noqa: F841 - one block for parse and write: this is the hot path
    try:
        mol = _parse_checked(text)
        return None if mol is None else _write_canonical(mol, isomeric)
    finally:
        del blocker


def _rdkit_seed(seed: int, round_index: int) -> int:
    # RDKit treats randomSeed=0 as "seed from the clock", so never pass 0.
    return (int(seed) * 1_000_003 + round_index * 7919) % 2_147_483_646 + 1


def randomize(smiles: object, n: int, seed: int = 0, isomeric: bool = True) -> list[str]:
    """Up to ``n`` distinct, non-canonical SMILES of the same molecule.

    Deterministic for a given ``seed``. Every variant is re-parsed and kept only
    if it maps back to the input's canonical form. Returns fewer than ``n`` (or
    none, e.g. for methane) when the molecule has fewer distinct spellings, and
    an empty list for invalid input.
    """
    mol = parse(smiles)
    if mol is None or n <= 0:
        return []
    canonical = mol_to_canonical(mol, isomeric)
    seen = {canonical}
    variants: list[str] = []
    for round_index in range(MAX_RANDOM_ROUNDS):
        wanted = n - len(variants)
        blocker = rdBase.BlockLogs()  # noqa: F841
        try:
            drawn = Chem.MolToRandomSmilesVect(
                mol, max(2 * wanted, 4), randomSeed=_rdkit_seed(seed, round_index),
                isomericSmiles=isomeric,
            )
        except Exception:
            return variants
        finally:
            del blocker
        for variant in drawn:
            if variant in seen:
                continue
            seen.add(variant)
            if canonicalize(variant, isomeric) != canonical:
                continue  # rare stereo round-trip failures: never emit a different molecule
            variants.append(variant)
            if len(variants) == n:
                return variants
    return variants


def strip_atom_maps(smiles: object, isomeric: bool = True) -> str | None:
    """Canonical SMILES with every atom-map number removed (``[CH3:1]`` -> ``C``)."""
    mol = parse(smiles)
    if mol is None:
        return None
    for atom in mol.GetAtoms():
        atom.SetAtomMapNum(0)
    return mol_to_canonical(mol, isomeric)


def inchikey(smiles: object) -> str | None:
    """Standard InChIKey, or None if the SMILES is invalid or InChI fails."""
    mol = parse(smiles)
    if mol is None:
        return None
    blocker = rdBase.BlockLogs()  # noqa: F841 - InChI warns loudly on odd valences
    try:
        key = Chem.MolToInchiKey(mol)
    except Exception:
        return None
    finally:
        del blocker
    return key or None


def same_molecule(a: object, b: object, isomeric: bool = True) -> bool:
    """True if both strings are valid and have the same canonical SMILES."""
    canonical_a = canonicalize(a, isomeric)
    return canonical_a is not None and canonical_a == canonicalize(b, isomeric)


@lru_cache(maxsize=16)
def _morgan_generator(radius: int, nbits: int):
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=nbits)


def tanimoto(a: object, b: object, radius: int = 2, nbits: int = 2048) -> float | None:
    """Tanimoto similarity of Morgan fingerprints, or None if either is invalid."""
    if not (0 <= int(radius) <= 8 and 64 <= int(nbits) <= 1 << 16):
        raise ValueError(f"radius must be in [0, 8] and nbits in [64, 65536], got {radius}, {nbits}")
    mol_a, mol_b = parse(a), parse(b)
    if mol_a is None or mol_b is None:
        return None
    generator = _morgan_generator(int(radius), int(nbits))
    return float(DataStructs.TanimotoSimilarity(generator.GetFingerprint(mol_a), generator.GetFingerprint(mol_b)))
