"""Charge balance of inorganic compositions, decided by SMACT with a strict set of
oxidation states.

:func:`is_charge_balanced` is SMACT's ``smact_validity``: some combination of the
elements' allowed oxidation states sums to zero at the given stoichiometry (and, with
``use_pauling_test``, cations are less electronegative than anions). Following SMACT,
single elements and all-metal alloys count as valid when ``include_alloys`` is on. The
search is combinatorial in the number of elements, so compositions with more than
:data:`MAX_ELEMENTS` elements are answered False without searching.

Which oxidation states are allowed decides what the check lets through, and a reward
built on it is what RL optimises. SMACT 4's default (every ICSD-2024 state reported by at
least three sources, however rare) includes Sr+4, Y+4, La+4, Zn+3/+4, Nd+5 and O-1, so it
calls SrTiO8, YO2 and Nd2O5 charge balanced; RL finds such holes within a few hundred
steps. The default here, :data:`DEFAULT_OXIDATION_STATES` (``icsd24_medium``), keeps only
states seen in at least 10% of an element's ICSD-2024 compounds: SrTiO3, NaCl, MgO,
BaTiO3, ZnS, GaAs and LiCoO2 pass; SrTiO8, YO2, NaCl3, LaO2, ZnO2 and Nd2O5 do not. It
also rejects real compounds that need a rare state: peroxides (BaO2, Na2O2: O-1),
nitrates (NaNO3: N+5), phosphides (InP: P-3), PbO2.

Each element takes one oxidation state per compound (single valence), so mixed-valence
compounds (Fe3O4, Mn3O4, Co3O4, LiMn2O4) fail too. ``mixed_valence=True`` lets the
elements SMACT lists as mixed-valent (Fe, Mn, Co, ...) take several of their allowed
states in one compound: those four then pass, at the price of accepting any average in
between (Mn5O7 passes as well). It is off by default.

:data:`OXIDATION_STATE_SETS` names every set that can be chosen (``oxidation_states``).
"""

from __future__ import annotations

from pathlib import Path

from mist_pl.chem.crystal_limits import quiet_pymatgen
from mist_pl.chem.crystals import as_composition

MAX_ELEMENTS = 8  # 10 elements already take seconds

# name -> what it is. ``icsd24_*`` filter SMACT's ICSD-2024 table (states reported by at
# least three sources); the others are SMACT's own named sets.
OXIDATION_STATE_SETS: dict[str, str] = {
    "icsd24_medium": "ICSD-2024 states found in >= 10% of the element's compounds (default: strict, common)",
    "icsd24_common": "one state per element, the commonest in ICSD-2024 (strictest: rejects GaAs and LiCoO2)",
    "icsd24_low": "every ICSD-2024 state reported by >= 3 sources (SMACT 4's default: accepts SrTiO8, YO2)",
    "icsd24": "SMACT's named icsd24 set (accepts SrTiO8, YO2)",
    "icsd16": "SMACT's ICSD-2016 set (accepts YO2, LaO2, ZnO2)",
    "smact14": "SMACT's 2014 set (accepts YO2, LaO2, ZnO2)",
    "pymatgen_sp": "pymatgen's structure-predictor set (rejects GaAs)",
}
DEFAULT_OXIDATION_STATES = "icsd24_medium"
# ICSD24 filter settings of the icsd24_* sets: (consensus, commonality) as SMACT names them.
_ICSD24_FILTERS = {"icsd24_medium": (3, "medium"), "icsd24_low": (3, "low")}
_ICSD24_COMMON_FILE = "oxidation_states_icsd24_common.txt"  # ships in smact/data


def check_oxidation_states(name: object) -> str:
    """``name`` if it names a set of :data:`OXIDATION_STATE_SETS`; ValueError naming it otherwise."""
    if not isinstance(name, str) or name not in OXIDATION_STATE_SETS:
        raise ValueError(f"oxidation_states={name!r} is not one of {sorted(OXIDATION_STATE_SETS)}")
    return name


def _smact_arguments(name: str) -> dict:
    """The ``smact_validity`` keyword arguments that select the set ``name``."""
    if name in _ICSD24_FILTERS:
        from smact.screening import ICSD24FilterConfig

        consensus, commonality = _ICSD24_FILTERS[name]
        return {"icsd_filter": ICSD24FilterConfig(consensus=consensus, commonality=commonality)}
    if name == "icsd24_common":
        import smact

        return {"oxidation_states_set": str(Path(smact.__file__).parent / "data" / _ICSD24_COMMON_FILE)}
    return {"oxidation_states_set": name}


def is_charge_balanced(
    composition: object,
    use_pauling_test: bool = True,
    include_alloys: bool = True,
    oxidation_states: str = DEFAULT_OXIDATION_STATES,
    mixed_valence: bool = False,
) -> bool:
    """True if SMACT finds a neutral assignment from the ``oxidation_states`` set.

    ``composition``: a Structure, Composition, formula string ("NaCl"),
    ``{element: amount}`` mapping, or a list of elements (one of each).
    Unreadable input, fractional amounts that do not scale to small integers,
    and more than :data:`MAX_ELEMENTS` elements give False. An unknown
    ``oxidation_states`` name raises ValueError (a setting, not model output).
    """
    arguments = _smact_arguments(check_oxidation_states(oxidation_states))
    from smact.screening import smact_validity  # smact is slow to import; only load when used

    parsed = as_composition(composition)
    if parsed is None or len(parsed) == 0 or len(parsed) > MAX_ELEMENTS:
        return False
    with quiet_pymatgen():
        try:
            formula, _factor = parsed.element_composition.get_integer_formula_and_factor()
            return bool(smact_validity(formula, use_pauling_test=use_pauling_test, include_alloys=include_alloys,
                                       mixed_valence=bool(mixed_valence), **arguments))
        except Exception:
            return False
