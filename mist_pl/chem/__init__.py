"""Pure chemistry for mist-pl: SMILES, reactions, IUPAC names, crystals. Never imports torch.

Modules (import the one you need; this package itself only loads the tags):

- :mod:`~mist_pl.chem.tags`: ``[START_SMILES]``/``[END_SMILES]``/``[START_CIF]``/``[END_CIF]``
- :mod:`~mist_pl.chem.smiles`: parse, validate, canonicalize, randomize, compare molecules
- :mod:`~mist_pl.chem.spans`: find and tag SMILES inside free text
- :mod:`~mist_pl.chem.reactions`: reaction SMILES, canonical reaction form
- :mod:`~mist_pl.chem.names`: IUPAC name -> SMILES (OPSIN, offline), name/structure interleaving
- :mod:`~mist_pl.chem.crystals`: CIF parse/validate/normalize/write, compact format, shipped structures
- :mod:`~mist_pl.chem.describe`: factual CPT documents about molecules, reactions, crystals
- :mod:`~mist_pl.chem.charge_balance`, :mod:`~mist_pl.chem.substitution`: SMACT checks, element swaps

The common names are also reachable as ``mist_pl.chem.<name>``; they are loaded
on first use, so ``import mist_pl.chem`` stays cheap (pymatgen alone takes ~0.5 s).

Every function that takes a string accepts arbitrary text (model output) and
answers None / False / a list of problems instead of raising, except the
crystal parsers, which raise :class:`~mist_pl.chem.crystals.CrystalError` with
the reason and have ``try_*`` variants that return None.
"""

from __future__ import annotations

import importlib

from mist_pl.chem.tags import CIF_END, CIF_START, SMILES_END, SMILES_START, wrap_cif, wrap_smiles

_LAZY = {
    "smiles": (
        "MAX_SMILES_LEN", "parse", "is_valid", "canonicalize", "randomize",
        "strip_atom_maps", "inchikey", "same_molecule", "tanimoto",
    ),
    "spans": ("TaggedText", "tag_smiles_spans", "tag_smiles"),
    "reactions": ("ReactionParse", "parse_reaction", "canonicalize_reaction", "split_reaction"),
    "names": ("name_to_smiles", "names_to_smiles", "interleave", "annotate_names", "OpsinUnavailable"),
    "crystals": (
        "CrystalError", "parse_cif", "validate", "normalize", "to_cif", "to_compact", "from_compact",
        "tag_cif", "composition_elements", "space_group", "shipped_structures", "substitute_elements",
    ),
    "charge_balance": ("is_charge_balanced",),
    "describe": ("describe_molecule", "describe_reaction", "describe_structure"),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["CIF_END", "CIF_START", "SMILES_END", "SMILES_START", "wrap_cif", "wrap_smiles", *_MODULE_OF]


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'mist_pl.chem' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mist_pl.chem.{module}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value
