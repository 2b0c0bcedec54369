"""Charge balance of inorganic compositions, decided by SMACT.

:func:`is_charge_balanced` is SMACT's ``smact_validity``: some combination of
the elements' known oxidation states sums to zero at the given stoichiometry
(and, with ``use_pauling_test``, cations are less electronegative than anions).
Following SMACT, single elements and all-metal alloys count as valid when
``include_alloys`` is on. The search is combinatorial in the number of
elements, so compositions with more than :data:`MAX_ELEMENTS` elements are
answered False without searching (10 elements already take seconds).
"""

from __future__ import annotations

from mist_pl.chem.crystal_limits import quiet_pymatgen
from mist_pl.chem.crystals import as_composition

MAX_ELEMENTS = 8


def is_charge_balanced(composition: object, use_pauling_test: bool = True, include_alloys: bool = True) -> bool:
    """True if SMACT finds a neutral oxidation-state assignment.

    ``composition``: a Structure, Composition, formula string ("NaCl"),
    ``{element: amount}`` mapping, or a list of elements (one of each).
    Unreadable input, fractional amounts that do not scale to small integers,
    and more than :data:`MAX_ELEMENTS` elements give False.
    """
    from smact.screening import smact_validity  # smact is slow to import; only load when used

    parsed = as_composition(composition)
    if parsed is None or len(parsed) == 0 or len(parsed) > MAX_ELEMENTS:
        return False
    with quiet_pymatgen():
        try:
            formula, _factor = parsed.element_composition.get_integer_formula_and_factor()
            return bool(
                smact_validity(formula, use_pauling_test=use_pauling_test, include_alloys=include_alloys)
            )
        except Exception:
            return False
