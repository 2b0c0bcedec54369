"""Charge balance of inorganic compositions: oxidation states ranked by how often ICSD
reports them (the default), or SMACT with a fixed set.

The default rule, ``icsd24_ranked`` (:func:`charge_balance_score`), asks how likely the best
neutral assignment of oxidation states is, instead of cutting the states at a fixed share:

* **States and their weights.** Every state SMACT's ICSD-2024 table reports at least three
  times, weighted by its count over the count of the element's commonest state (O-2: 1,
  Mn+7: 0.012, Ni+4: 0.015, Nb+2: 0.011, P-3: 0.10, C-4: 0.12). A positive state must also
  be one pymatgen lists for the element (its textbook list): that drops ICSD's assignment
  noise (Sr+4, Y+4, La+4, Zn+3/+4, Nd+4/+5), which is what made SrTiO8, YO2, LaO2, ZnO2 and
  Nd2O5 balance under SMACT's default. (The integer averages ICSD records for mixed-valent
  compounds, Bi+4, Sb+4, Sn+3, Pt+3, go too; mixed valence below covers them.)
* **Score.** An assignment gives each element one state (single valence), and its score is
  the product of the weights; the composition's score is the best score of an assignment
  whose charges sum to zero and in which every cation is less electronegative than every
  anion (Pauling, with a 0.5 tolerance: the tabulated values of Pb, W and Au are those of
  their highest states, so PbTe, WP and AuTe2 would fail a strict test). It is valid when the
  score is at least :data:`RANKED_THRESHOLD` (0.005): an assignment at least 1/200 as likely
  as the commonest states. Real compounds with one rare state pass (InP, SiC, NbO, KMnO4,
  MgNiF6, BaNiO3, KClO3); an assignment that needs two rare states, or one state seen a
  handful of times (Fe+6, Cl+1, Ru+8), does not.
* **Mixed valence.** The elements in :data:`MIXED_VALENCE` (SMACT's list of mixed-valent
  elements plus Pb, Tl and Pt) may take any average between two of their states at most 2
  apart, weighted by the rarer one: Fe3O4, Mn3O4, Co3O4, LiMn2O4, Pb3O4, U3O8, AgO,
  YBa2Cu3O7, Magneli phases. ``mixed_valence=True`` widens this to every metal and any two
  states.
* **Anions of several atoms** (weight :data:`POLYANION_WEIGHT`): peroxide O-1, superoxide
  O2- and ozonide O3- only with s-block cations (or H for H2O2), where ionic peroxides
  exist (Na2O2, BaO2, KO2, CsO3; ZnO2 stays invalid); polychalcogenides (S3 2-, S4 2-,
  S5 2- and the Se, Te ones) with s-block cations (BaS3, Na2S4); azide N3- with any cation.
* **Metal-rich compounds.** When every non-metal is one of :data:`METALLIC_PARTNERS` (H, B,
  C, N, Si, P, As), a d-block metal of groups 3-10 or an f-block metal may keep electrons
  in metallic bonds: its charge is anything from zero up to its highest state (Fe3C,
  Fe2P, Cr2N, ThH2, TiH2, NbP, Ti4AlN3). Oxides, halides and chalcogenides get no such
  leeway.
* **Alloys.** A single element, a composition of metals only (SMACT's list, which counts
  Ge and Sb as metals), or of metals with B, C and Si only (borides, carbides, silicides:
  CaB6, MoSi2, WC, Cr23C6), is valid without a search, as SMACT treats alloys: formal
  charges say nothing about metallic bonding. ``include_alloys=False`` turns that off.

Measured (``tests/chem/test_charge_reference.py``, reference set in
:mod:`mist_pl.chem.charge_reference`): 2,957 of 2,981 real compounds (99.2%) are judged
valid (pymatgen's shipped structures, pymatgen's experimentally measured compounds, the
mist-demo fixtures and a textbook list), and all 20 impossible compositions (SrTiO8, YO2,
NaCl3, LaO2, ZnO2, Nd2O5 and 14 more) invalid. The previous default, ``icsd24_medium``,
judged 75.2% of the real ones valid; SMACT's own default 94.3%, with SrTiO8, YO2, LaO2,
ZnO2 and Nd2O5 valid too. The price is strictness elsewhere: of random compositions with O
or a halogen, 23.7% pass (``icsd24_medium`` 5.8%, SMACT's default 37.3%). A new composition
costs ~0.3-0.5 ms (at most ~11 ms with eight elements); answers are cached per reduced
formula.

The other names in :data:`OXIDATION_STATE_SETS` are SMACT's ``smact_validity`` with a fixed
set of states, each element in one state (``mixed_valence=True``: SMACT's mixed-valent
elements may take several). ``icsd24_medium`` keeps the ICSD-2024 states found in at least
10% of an element's compounds (strict, rejects InP, SiC, NbO, Fe3O4); ``icsd24_low`` is
SMACT 4's default (accepts SrTiO8 and YO2).

Compositions with more than :data:`MAX_ELEMENTS` elements are answered False without a
search.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from fractions import Fraction
from pathlib import Path

from mist_pl.chem.crystal_limits import quiet_pymatgen
from mist_pl.chem.crystals import as_composition

MAX_ELEMENTS = 8  # SMACT's search takes seconds at 10 elements

# name -> what it is. ``icsd24_ranked`` is this module's rule; the others are SMACT's
# ``smact_validity`` with a fixed set (``icsd24_*`` filter SMACT's ICSD-2024 table).
OXIDATION_STATE_SETS: dict[str, str] = {
    "icsd24_ranked": "ICSD-2024 states ranked by frequency, best neutral assignment >= 1/200 as likely as the "
                     "commonest states (default: accepts InP, SiC, NbO, Fe3O4, rejects SrTiO8, YO2)",
    "icsd24_medium": "ICSD-2024 states found in >= 10% of the element's compounds (strict: rejects InP, SiC, NbO, Fe3O4)",
    "icsd24_common": "one state per element, the commonest in ICSD-2024 (strictest: rejects GaAs and LiCoO2)",
    "icsd24_low": "every ICSD-2024 state reported by >= 3 sources (SMACT 4's default: accepts SrTiO8, YO2)",
    "icsd24": "SMACT's named icsd24 set (accepts SrTiO8, YO2)",
    "icsd16": "SMACT's ICSD-2016 set (accepts YO2, LaO2, ZnO2)",
    "smact14": "SMACT's 2014 set (accepts YO2, LaO2, ZnO2)",
    "pymatgen_sp": "pymatgen's structure-predictor set (rejects GaAs)",
}
DEFAULT_OXIDATION_STATES = "icsd24_ranked"
RANKED = "icsd24_ranked"

RANKED_THRESHOLD = 0.005
"""Least score (product of the states' weights) of a valid composition under ``icsd24_ranked``."""
ICSD_CONSENSUS = 3  # a state needs this many ICSD-2024 reports (SMACT's default consensus)
POLYANION_WEIGHT = 0.1  # peroxide (s-block), superoxide, ozonide, polychalcogenide, azide
PAULING_TOLERANCE = 0.5  # a cation may be this much more electronegative than an anion
MAX_MIXED_GAP = 2  # mixed valence: states at most this far apart (Fe2+/3+, Pb2+/4+, Sb3+/5+)

# SMACT's metals (pymatgen's metals with Ge, Sb and Po, without the superheavy elements).
METALS = frozenset("""
    Li Be Na Mg Al K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd
    In Sn Sb Cs Ba La Ce Pr Nd Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb
    Bi Po Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No
""".split())
# SMACT's mixed-valence elements, plus Pb (Pb3O4), Tl (TlSe, Tl4S3) and Pt (Pt3O4).
MIXED_VALENCE = frozenset("""
    Fe Mn Co Cu Ni V Ti Cr Nb Mo W Re Ru Os Pd Ag Au Sn Sb Bi Ce Eu Yb U Pb Tl Pt
""".split())
S_BLOCK = frozenset("Li Na K Rb Cs Fr Be Mg Ca Sr Ba Ra".split())
ALLOY_PARTNERS = frozenset("B C Si".split())  # with metals only: valid, like an alloy
METALLIC_PARTNERS = frozenset("H B C N Si P As".split())  # metal-rich compounds allowed
# Anions of several atoms, as the average state per atom: (element, state, s-block cations only).
POLYANIONS: tuple[tuple[str, Fraction, bool], ...] = (
    ("O", Fraction(-1, 2), True), ("O", Fraction(-1, 3), True),  # superoxide O2-, ozonide O3-
    *((chalcogen, Fraction(-2, n), True) for chalcogen in ("S", "Se", "Te") for n in (3, 4, 5)),  # X_n 2-
    ("N", Fraction(-1, 3), False),  # azide N3-
)
_SCORE_FLOOR = RANKED_THRESHOLD / 1000  # charge_balance_score does not search below this
_UNIT = 60  # charges are counted in 1/60 e: exact for every polyanion state above
_ICSD24_COUNTS = "oxidation_states_icsd24_counts.json"  # ships in smact/data

# ICSD24 filter settings of the SMACT-backed icsd24_* sets: (consensus, commonality).
_ICSD24_FILTERS = {"icsd24_medium": (3, "medium"), "icsd24_low": (3, "low")}
_ICSD24_COMMON_FILE = "oxidation_states_icsd24_common.txt"  # ships in smact/data


def check_oxidation_states(name: object) -> str:
    """``name`` if it names a set of :data:`OXIDATION_STATE_SETS`; ValueError naming it otherwise."""
    if not isinstance(name, str) or name not in OXIDATION_STATE_SETS:
        raise ValueError(f"oxidation_states={name!r} is not one of {sorted(OXIDATION_STATE_SETS)}")
    return name


# ----------------------------------------------------------------- icsd24_ranked


def _smact_data(name: str) -> Path:
    spec = importlib.util.find_spec("smact")
    for root in (spec.submodule_search_locations or []) if spec else []:
        if (Path(root) / "data" / name).exists():
            return Path(root) / "data" / name
    raise FileNotFoundError(f"smact/data/{name} not found: is smact installed?")


@functools.lru_cache(maxsize=1)
def ranked_states() -> dict[str, dict[int, float]]:
    """``{element: {state: weight}}`` of the ``icsd24_ranked`` rule: ICSD-2024 states with at
    least :data:`ICSD_CONSENSUS` reports, positive ones only where pymatgen lists them,
    weighted by their count over the count of the element's commonest state."""
    from pymatgen.core import Element

    counts: dict[str, dict[int, int]] = {}
    for row in json.loads(_smact_data(_ICSD24_COUNTS).read_text()):
        state, count = int(row["oxidation_state"]), int(row["results_count"])
        if state != 0 and count >= ICSD_CONSENSUS:
            counts.setdefault(str(row["element"]), {})[state] = count
    table = {}
    with quiet_pymatgen():
        for symbol, states in counts.items():
            element = Element(symbol)
            known = set(element.oxidation_states) | set(element.common_oxidation_states)
            kept = {s: n for s, n in states.items() if s < 0 or s in known}
            if kept:
                top = max(kept.values())
                table[symbol] = {s: n / top for s, n in sorted(kept.items())}
    return table


@functools.lru_cache(maxsize=None)
def _element_facts(symbol: str) -> tuple[float | None, bool]:
    """(Pauling electronegativity or None, whether it may be metallic in a metal-rich compound)."""
    from pymatgen.core import Element

    with quiet_pymatgen():
        element = Element(symbol)
        x = element.X
        metallic = symbol in METALS and (element.block == "f" or (element.block == "d" and element.group <= 10))
    return (None if x is None or math.isnan(x) else float(x)), metallic


# An option is (lowest total charge, highest total charge, weight, sign), charges in 1/_UNIT e.
_Option = tuple[int, int, float, int]


def _options(symbol: str, amount: int, others: list[str], metal_rich: bool, mixed_valence: bool) -> list[_Option]:
    """The ways ``amount`` atoms of ``symbol`` can be charged, likeliest first."""
    states: dict[Fraction, float] = {Fraction(s): w for s, w in ranked_states().get(symbol, {}).items()}
    s_block_only = all(other in S_BLOCK for other in others)
    if symbol == "O" and -1 in states:  # peroxide: s-block cations or hydrogen only
        if s_block_only or all(other in S_BLOCK or other == "H" for other in others):
            states[Fraction(-1)] = max(states[Fraction(-1)], POLYANION_WEIGHT)
        else:
            del states[Fraction(-1)]
    for element, state, needs_s_block in POLYANIONS:
        if element == symbol and (s_block_only or not needs_s_block):
            states[state] = max(states.get(state, 0.0), POLYANION_WEIGHT)
    options = [(int(s * amount * _UNIT), int(s * amount * _UNIT), w, 1 if s > 0 else -1) for s, w in states.items()]
    positive = sorted((s, w) for s, w in states.items() if s > 0)
    if symbol in (METALS if mixed_valence else MIXED_VALENCE):
        for i, (low, w_low) in enumerate(positive):
            for high, w_high in positive[i + 1:]:
                if mixed_valence or high - low <= MAX_MIXED_GAP:
                    options.append((int(low * amount * _UNIT), int(high * amount * _UNIT), min(w_low, w_high), 1))
    if metal_rich and positive and _element_facts(symbol)[1]:
        options.append((0, int(positive[-1][0] * amount * _UNIT), 1.0, 1))
    options.sort(key=lambda option: -option[2])
    return options


def _best_assignment(amounts: dict[str, int], use_pauling_test: bool, include_alloys: bool, mixed_valence: bool,
                     at_least: float, first: bool) -> tuple[float, dict[str, tuple[Fraction, Fraction]]]:
    """(best score, its states as (lowest, highest) average per element); (0, {}) when none
    scores ``at_least`` or more; with ``first``, the first assignment found that does.
    Branch and bound over the elements' options."""
    symbols = list(amounts)
    if len(symbols) == 1:
        return 1.0, {}
    if include_alloys and any(s in METALS for s in symbols) and all(s in METALS or s in ALLOY_PARTNERS for s in symbols):
        return 1.0, {}
    metal_rich = (any(s not in METALS for s in symbols)  # an alloy is not a metal-rich compound
                  and all(s in METALS or s in METALLIC_PARTNERS for s in symbols))
    options = [_options(s, amounts[s], [o for o in symbols if o != s], metal_rich, mixed_valence) for s in symbols]
    if not all(options):
        return 0.0, {}
    order = sorted(range(len(symbols)), key=lambda i: len(options[i]))
    symbols = [symbols[i] for i in order]
    options = [options[i] for i in order]
    electronegativity = [_element_facts(s)[0] if use_pauling_test else None for s in symbols]
    n = len(symbols)
    lowest = [0] * (n + 1)  # bounds on what the elements from i on can still add
    highest = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        lowest[i] = lowest[i + 1] + min(o[0] for o in options[i])
        highest[i] = highest[i + 1] + max(o[1] for o in options[i])
    best: list = [at_least, None]
    chosen: list[_Option] = []

    def search(i: int, low: int, high: int, weight: float, max_cation: float, min_anion: float) -> None:
        if first and best[1] is not None:
            return
        if i == n:
            if low <= 0 <= high and weight >= best[0] and (best[1] is None or weight > best[0]):
                best[0], best[1] = weight, list(chosen)
            return
        if low + lowest[i] > 0 or high + highest[i] < 0:
            return
        x = electronegativity[i]
        for option in options[i]:
            score = weight * option[2]
            if score < best[0] or (best[1] is not None and score <= best[0]):
                break  # options are sorted by weight: the rest score lower still
            cation, anion = max_cation, min_anion
            if x is not None:
                if option[3] > 0:
                    if x >= min_anion + PAULING_TOLERANCE:
                        continue
                    cation = max(cation, x)
                else:
                    if x <= max_cation - PAULING_TOLERANCE:
                        continue
                    anion = min(anion, x)
            chosen.append(option)
            search(i + 1, low + option[0], high + option[1], score, cation, anion)
            chosen.pop()

    search(0, 0, 0, 1.0, -math.inf, math.inf)
    if best[1] is None:
        return 0.0, {}
    states = {s: (Fraction(o[0], amounts[s] * _UNIT), Fraction(o[1], amounts[s] * _UNIT)) for s, o in zip(symbols, best[1])}
    return best[0], states


def _integer_amounts(composition: object) -> dict[str, int] | None:
    parsed = as_composition(composition)
    if parsed is None or len(parsed) == 0 or len(parsed) > MAX_ELEMENTS:
        return None
    with quiet_pymatgen():
        try:
            formula, _factor = parsed.element_composition.get_integer_formula_and_factor()
            from pymatgen.core import Composition

            amounts = {el.symbol: int(round(n)) for el, n in Composition(formula).items()}
        except Exception:
            return None
    if not amounts or any(n <= 0 for n in amounts.values()):
        return None
    return amounts


@functools.lru_cache(maxsize=65536)
def _ranked(key: tuple[tuple[str, int], ...], use_pauling_test: bool, include_alloys: bool, mixed_valence: bool,
            at_least: float, first: bool) -> tuple[float, dict[str, tuple[Fraction, Fraction]]]:
    return _best_assignment(dict(key), use_pauling_test, include_alloys, mixed_valence, at_least, first)


def charge_balance_assignment(composition: object, use_pauling_test: bool = True, include_alloys: bool = True,
                              mixed_valence: bool = False) -> tuple[float, dict[str, tuple[Fraction, Fraction]]]:
    """``(score, states)`` of the best neutral assignment under ``icsd24_ranked``: the score
    (0 when there is none, or when the best is below 1/1000 of :data:`RANKED_THRESHOLD`:
    the search stops there) and, per element, the (lowest, highest) average oxidation state
    it takes (equal unless the element is mixed-valent or metallic). Alloys and single
    elements score 1 with no states. Unreadable input scores 0."""
    amounts = _integer_amounts(composition)
    if amounts is None:
        return 0.0, {}
    key = tuple(sorted(amounts.items()))
    score, states = _ranked(key, bool(use_pauling_test), bool(include_alloys), bool(mixed_valence), _SCORE_FLOOR, False)
    return score, dict(states)  # a copy: the cached answer stays as it is


def charge_balance_score(composition: object, use_pauling_test: bool = True, include_alloys: bool = True,
                         mixed_valence: bool = False) -> float:
    """The ``icsd24_ranked`` score: the product of the state weights of the likeliest neutral
    assignment (1 for the commonest states, alloys and single elements; 0 if none)."""
    return charge_balance_assignment(composition, use_pauling_test, include_alloys, mixed_valence)[0]


# ----------------------------------------------------------------- SMACT-backed sets


def _smact_arguments(name: str) -> dict:
    """The ``smact_validity`` keyword arguments that select the set ``name``."""
    if name in _ICSD24_FILTERS:
        from smact.screening import ICSD24FilterConfig

        consensus, commonality = _ICSD24_FILTERS[name]
        return {"icsd_filter": ICSD24FilterConfig(consensus=consensus, commonality=commonality)}
    if name == "icsd24_common":
        return {"oxidation_states_set": str(_smact_data(_ICSD24_COMMON_FILE))}
    return {"oxidation_states_set": name}


def is_charge_balanced(
    composition: object,
    use_pauling_test: bool = True,
    include_alloys: bool = True,
    oxidation_states: str = DEFAULT_OXIDATION_STATES,
    mixed_valence: bool = False,
) -> bool:
    """True if the composition is charge balanced under ``oxidation_states``.

    ``composition``: a Structure, Composition, formula string ("NaCl"),
    ``{element: amount}`` mapping, or a list of elements (one of each).
    ``icsd24_ranked`` (default): :func:`charge_balance_score` >= :data:`RANKED_THRESHOLD`,
    with the rule's own mixed valence (``mixed_valence=True`` widens it to every metal).
    Any other name: SMACT's ``smact_validity`` with that set.
    Unreadable input, fractional amounts that do not scale to integers, and more than
    :data:`MAX_ELEMENTS` elements give False. An unknown ``oxidation_states`` name raises
    ValueError (a setting, not model output).
    """
    name = check_oxidation_states(oxidation_states)
    amounts = _integer_amounts(composition)
    if amounts is None:
        return False
    if name == RANKED:
        key = tuple(sorted(amounts.items()))
        score, _states = _ranked(key, bool(use_pauling_test), bool(include_alloys), bool(mixed_valence),
                                 RANKED_THRESHOLD, True)
        return score >= RANKED_THRESHOLD
    arguments = _smact_arguments(name)
    from smact.screening import smact_validity  # smact is slow to import; only load when used

    formula = "".join(f"{element}{count}" for element, count in amounts.items())
    with quiet_pymatgen():
        try:
            return bool(smact_validity(formula, use_pauling_test=use_pauling_test, include_alloys=include_alloys,
                                       mixed_valence=bool(mixed_valence), **arguments))
        except Exception:
            return False
