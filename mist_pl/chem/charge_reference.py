"""Reference compositions for judging a charge-balance rule both ways.

Real compounds (:func:`real_compounds`), from data that ships with the installed packages
and this one, nothing downloaded:

* ``pymatgen``: every ordered compound among the structures pymatgen ships
  (:func:`mist_pl.chem.crystal_library.shipped_structures`: its 21 test structures and 288
  AFLOW prototypes), the material-generation task's own source structures. Left out:
  single elements (every rule calls them neutral), structures with partial occupancies (no
  integer formula; the task drops them too) and :data:`NOT_A_COMPOUND`.
* ``mist_demo``: the formulas of the mist-demo crystal fixtures (``crystalrelax_tiny``),
  the task's other source.
* ``experimental``: the compositions in pymatgen's table of experimentally measured
  formation enthalpies (``analysis/compatibility/exp_compounds.json.gz``, ~2100 compounds
  pymatgen fits its energy corrections to: oxides, halides, chalcogenides, pnictides,
  hydrides, carbides, borides, silicides, intermetallics). These are measured, so real.
* ``textbook``: :data:`TEXTBOOK_COMPOUNDS`, written for this project from standard
  inorganic-chemistry knowledge (Greenwood & Earnshaw, Housecroft & Sharpe): every formula
  is a known compound at ambient pressure, chosen to cover what a fixed cut of common
  oxidation states gets wrong (InP, SiC, NbO, Fe3O4, MgNiF6, peroxides, nitrates, high
  states such as KMnO4) as well as the ordinary cases. A few are listed because they are
  hard (CsI3, K2FeO4, K2S2O8, NaClO, RuO4, OF2, TiS3, B4C, B6O): a rule may miss them.

:data:`IMPOSSIBLE_COMPOUNDS` are compositions that no assignment of real oxidation states
balances at ambient pressure, each with the reason; SrTiO8 and YO2 are what RL found with a
loose rule.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

from pymatgen.core import Composition

from mist_pl.chem.crystal_limits import quiet_pymatgen

# Shipped structures that are not one compound: pymatgen's Si/SiO2 interface is a slab of
# silicon on silica (formula Si13O12), a model of two phases.
NOT_A_COMPOUND = frozenset({"util:Si_SiO2_Interface"})

# Known compounds (ambient pressure), grouped; parentheses are groups (Ca5(PO4)3(OH)).
TEXTBOOK_COMPOUNDS: dict[str, tuple[str, ...]] = {
    "simple salts and oxides": tuple("""
        NaCl KCl KBr CsCl LiF CaF2 MgO CaO BaO SrO Al2O3 ZnO ZnS CdS CdTe PbS PbO PbO2 SnO SnO2
        TiO2 ZrO2 HfO2 CeO2 UO2 ThO2 Y2O3 La2O3 Nd2O3 Sc2O3 Ga2O3 In2O3 Cr2O3 Fe2O3 FeO NiO CoO
        CuO Cu2O Ag2O HgO MnO MnO2 V2O5 VO2 MoO3 MoO2 WO3 Nb2O5 Ta2O5 RuO2 OsO4 RuO4 Re2O7 ReO3
        IrO2 CrO3 Bi2O3 Sb2O3 As2O3 SiO2 GeO2 B2O3 P2O5 SO3 CO2 N2O5 Cl2O7 SeO2 TeO2 Mn2O7 BeO
        TiO NbO NbO2
    """.split()),
    "semiconductors and chalcogenides": tuple("""
        GaAs GaP GaN InP InAs InSb AlN AlP AlAs AlSb BN BP SiC ZnSe ZnTe CdSe HgTe HgS PbTe PbSe
        SnTe SnS SnSe GeTe Bi2Te3 Bi2Se3 Sb2Te3 CuInSe2 CuGaS2 CuInS2 Cu2ZnSnS4 Cu2ZnSnSe4 AgGaS2
        CuFeS2 Cu2S Ag2S MoS2 WS2 MoSe2 WSe2 TiS2 SnS2 In2Se3 Ga2Se3 FeS FeS2 NiS CoS2 TiS3
    """.split()),
    "nitrides and carbides": tuple("""
        Si3N4 Li3N Mg3N2 Ca3N2 Zn3N2 TiN ZrN HfN VN CrN TaN NbN Ge3N4 C3N4 P3N5
        WC TiC ZrC HfC NbC TaC VC Mo2C W2C B4C Al4C3 CaC2 BaC2 LaC2 Be2C Fe3C Cr3C2 Ta2C Nb2C
    """.split()),
    "mixed valence": tuple("""
        Fe3O4 Co3O4 Mn3O4 LiMn2O4 Pb3O4 AgO Eu3O4 U3O8 Sb2O4 YBa2Cu3O7 V6O13 Ti4O7 Ti3O5 Ni3S4
        Co3S4 Fe3S4 Fe7S8 Cu3Se2 Tl4S3 Cs2AuAuCl6
    """.split()),
    "high and rare oxidation states": tuple("""
        KMnO4 K2Cr2O7 K2CrO4 Na2CrO4 KClO4 KClO3 NaClO3 NaClO KIO3 KIO4 NaBrO3 K2FeO4 BaFeO3
        SrFeO3 K2NiF6 MgNiF6 LiNiO2 NaBiO3 K2MnO4 KReO4 K2RuO4 XeF2 XeF4 XeF6 XeO3 KrF2
    """.split()),
    "oxoanion salts, hydrates and minerals": tuple("""
        NaNO3 KNO3 NaNO2 KNO2 AgNO3 Pb(NO3)2 CaCO3 MgCO3 Na2CO3 K2CO3 NaHCO3 CaSO4 BaSO4 SrSO4
        MgSO4 CuSO4 ZnSO4 Na2SO4 Na2SO3 Na2S2O3 Na2S2O5 K2S2O8 Ca3(PO4)2 Na3PO4 NaH2PO4 KH2PO4
        (NH4)2HPO4 Na4P2O7 NH4Cl NH4NO3 (NH4)2SO4 NH4ClO4 (NH4)2Cr2O7 KCN NaCN K4Fe(CN)6
        K3Fe(CN)6 KSCN NH4SCN Hg(CNO)2 Na2B4O7 H3BO3 CaSiO3 Mg2SiO4 Fe2SiO4 ZrSiO4 Al2SiO5
        Be3Al2Si6O18 KAlSi3O8 NaAlSi3O8 CaAl2Si2O8 Al2Si2O5(OH)4 KMg3AlSi3O10(OH)2
        Mg3Si4O10(OH)2 Ca5(PO4)3(OH) Ca5(PO4)3F KAl(SO4)2 CuSO4(H2O)5 CaSO4(H2O)2 MgSO4(H2O)7
        Na2CO3(H2O)10 NaOH KOH Ca(OH)2 Mg(OH)2 Al(OH)3 Fe(OH)3 FeO(OH) AlO(OH) LiOH
    """.split()),
    "halides and molecular compounds": tuple("""
        AlCl3 FeCl3 FeCl2 TiCl4 TiCl3 SnCl4 SnCl2 SiCl4 GeCl4 PCl5 PCl3 POCl3 SOCl2 SO2Cl2 SF6
        SF4 SeF6 TeF6 UF6 UF4 WF6 MoF6 IF7 IF5 BrF3 BrF5 ClF3 ClF5 BF3 NF3 OF2 ICl ICl3 IBr CCl4
        CHCl3 CS2 COCl2 HgCl2 Hg2Cl2 CuCl CuCl2 AgCl AgBr AgI PbI2 BiI3 SbCl5 NbCl5 TaCl5 WCl6
        MoCl5 ZrCl4 HfCl4 VCl4 CrCl3 MnCl2 CoCl2 NiCl2 ZnCl2 CdCl2 GaCl3 InCl3 TlCl CsI3
    """.split()),
    "complex halides and perovskites": tuple("""
        CsPbI3 CsPbBr3 CsPbCl3 CH3NH3PbI3 CH3NH3PbBr3 HC(NH2)2PbI3 Cs2AgBiBr6 Cs2SnI6 K2PtCl6
        K2PtCl4 Na3AlF6 K2SiF6 KBF4 NaBF4 K3AlF6 Li2BeF4 KPF6 LiPF6 NaSbF6 K2TiF6 K2ZrF6
        Na2SiF6 CsAuCl4 KAuCl4 SrTiO3 BaTiO3 PbTiO3 CaTiO3 PbZrO3 LaAlO3 LaMnO3 LaCoO3 LaNiO3
        LaFeO3 LaCrO3 CaMnO3 SrRuO3 BiFeO3 LiNbO3 LiTaO3 KNbO3 NaNbO3 NaTaO3 KTaO3 YAlO3
        GdScO3 YMnO3 BaZrO3 SrZrO3 BaCeO3 BaNiO3 Y3Al5O12 Y3Fe5O12 Gd3Ga5O12
    """.split()),
    "spinels and battery materials": tuple("""
        MgAl2O4 ZnAl2O4 ZnFe2O4 NiFe2O4 CoFe2O4 MnFe2O4 CuFe2O4 MgFe2O4 FeCr2O4 ZnCr2O4 NiCr2O4
        CoAl2O4 MgCr2O4 Li4Ti5O12 Li2TiO3 LiAlO2 LiGaO2 LiCoO2 LiFeO2 NaCoO2 LiFePO4 LiMnPO4
        LiCoPO4 NaFePO4 Li3PO4 LiNi0.5Mn1.5O4 Li7La3Zr2O12 Li10GeP2S12 Li6PS5Cl Li3PS4 Na3PS4
        Li2S Li2O Na2O K2O Na2S K2S
    """.split()),
    "peroxides, superoxides, ozonides, azides, polysulfides": tuple("""
        Na2O2 K2O2 Li2O2 BaO2 SrO2 CaO2 H2O2 KO2 NaO2 CsO2 RbO2 KO3 CsO3
        NaN3 KN3 Pb(N3)2 AgN3 BaS3 Na2S4 K2S5
    """.split()),
    "hydrides": tuple("""
        LiH NaH KH CaH2 MgH2 BaH2 SrH2 TiH2 ZrH2 YH3 LaH3 CeH2 UH3 LiAlH4 NaAlH4 NaBH4 LiBH4
        KBH4 Mg(BH4)2 NH3BH3 AlH3 BeH2
    """.split()),
    "intermetallics": tuple("""
        Ni3Al NiAl TiAl Ti3Al FeAl Fe3Al NiTi Cu3Au CuAu CuZn Cu5Zn8 MgZn2 MgCu2 LaNi5 Nb3Sn
        Nb3Ge V3Ga SmCo5 Sm2Co17 Nd2Fe14B FeCo FePt CoPt Ni3Fe Mg2Ni Mg17Al12 Al2Cu Ni3Sn MnBi
        NaTl LiAl Cu6Sn5 Ag3Sn AuSn
    """.split()),
    "borides and silicides": tuple("""
        MgB2 AlB2 CaB6 LaB6 TiB2 ZrB2 HfB2 CrB2 WB ReB2 FeB Fe2B Ni3B CoB TaB2 NbB2 UB2 YB4 SmB6
        B6O Mg2Si CaSi2 MoSi2 WSi2 TiSi2 FeSi2 NiSi NiSi2 CoSi2 Cu3Si Fe3Si Mn5Si3 Ti5Si3 V3Si
        Pd2Si PtSi CrSi2 TaSi2 NbSi2 ReSi1.75
    """.split()),
    "pnictides and Zintl phases": tuple("""
        Mg2Ge Mg2Sn Mg3Sb2 Mg3Bi2 Ca3Sb2 Na3Sb K3Sb Cs3Sb Li3Sb Li3Bi Zn4Sb3 CoSb3 CoAs3 FeSb2
        ZnSb CdSb NiSb Fe2P Ni2P Co2P Ni3P Cu3P GaSb NiAs CoAs FeAs MnAs MnP CrP FeP CoP Zn3P2
        Cd3As2 Cd3P2 Ca3P2 Na3P K3P Li3P WP MoP TiP ZrP
    """.split()),
}

# Compositions that no real oxidation states balance (ambient pressure), with the reason.
# The first six are the issue's; SrTiO8 and YO2 are what RL answered with a loose rule.
IMPOSSIBLE_COMPOUNDS: dict[str, str] = {
    "SrTiO8": "needs Sr+4 or Ti+6 (Sr has 2 valence electrons, Ti 4); 8 O cannot carry only -6",
    "YO2": "needs Y+4 (Y has 3 valence electrons) or yttrium peroxide/superoxide, which does not exist",
    "NaCl3": "needs Na+3, or a trichloride anion, which no sodium salt forms at ambient pressure",
    "LaO2": "needs La+4 (La has 3 valence electrons) or a lanthanum peroxide, which does not exist",
    "ZnO2": "needs Zn+4 (beyond the filled 3d shell); zinc peroxide exists, but the rule treats "
            "peroxides as s-block only",
    "Nd2O5": "needs Nd+5, never observed (Nd stops at +4)",
    "MgCl3": "needs Mg+3 (2 valence electrons); chloride forms no polyanion with Mg",
    "AlF5": "needs Al+5 (3 valence electrons); fluorine forms no F-F polyanion",
    "CaF3": "needs Ca+3 (2 valence electrons)",
    "NaF2": "needs Na+2 (1 valence electron); there is no F2- anion",
    "KCl2": "needs K+2 (1 valence electron); there is no Cl2- salt",
    "BaF3": "needs Ba+3 (2 valence electrons)",
    "ScO2": "needs Sc+4 (3 valence electrons); no scandium peroxide exists",
    "AlCl4": "needs Al+4 (3 valence electrons); AlCl4 exists only as the anion AlCl4-",
    "SiF6": "needs Si+6 (4 valence electrons); SiF6 exists only as the anion SiF6 2-",
    "MgF3": "needs Mg+3 (2 valence electrons)",
    "LiF2": "needs Li+2 (1 valence electron)",
    "BeF3": "needs Be+3 (2 valence electrons)",
    "CaCl4": "needs Ca+4 (2 valence electrons)",
    "BaCl3": "needs Ba+3 (2 valence electrons); a trichloride salt would be BaCl6",
}


def textbook_compounds() -> list[tuple[str, str]]:
    """``(formula, group)`` for every :data:`TEXTBOOK_COMPOUNDS` entry, in order."""
    return [(formula, group) for group, formulas in TEXTBOOK_COMPOUNDS.items() for formula in formulas]


def _pymatgen_file(relative: str) -> Path | None:
    spec = importlib.util.find_spec("pymatgen")
    for root in (spec.submodule_search_locations or []) if spec else []:
        if (Path(root) / relative).exists():
            return Path(root) / relative
    return None


def _ordered(composition: Composition) -> bool:
    return all(abs(amount - round(amount)) < 1e-6 for amount in composition.values())


def pymatgen_structure_compounds() -> Iterator[tuple[str, Composition]]:
    """``(name, composition)`` of every ordered, multi-element structure pymatgen ships,
    less :data:`NOT_A_COMPOUND`."""
    from mist_pl.chem.crystal_library import shipped_structures

    for name, structure in shipped_structures():
        composition = structure.composition.element_composition
        if len(composition) >= 2 and _ordered(composition) and name not in NOT_A_COMPOUND:
            yield name, composition


def experimental_compounds() -> Iterator[tuple[str, Composition]]:
    """``(formula, composition)`` of pymatgen's experimentally measured compounds (none
    when this pymatgen does not ship the table)."""
    path = _pymatgen_file("analysis/compatibility/exp_compounds.json.gz")
    if path is None:
        return
    with gzip.open(path, "rt") as handle:
        entries = json.load(handle)
    seen: set[str] = set()
    with quiet_pymatgen():
        for entry in entries:
            formula = str(entry.get("formula", ""))
            try:
                composition = Composition(formula).element_composition
            except Exception:
                continue
            if len(composition) >= 2 and formula not in seen:
                seen.add(formula)
                yield formula, composition


def mist_demo_compounds() -> Iterator[tuple[str, Composition]]:
    """``(formula, composition)`` of the mist-demo crystal fixtures, each once."""
    from mist_pl.shipped import mist_demo_file

    seen: set[str] = set()
    for split in ("train", "test"):
        text = mist_demo_file(f"crystalrelax_tiny/tgt-{split}.txt").read_text()
        for line in text.splitlines():
            if line.startswith("serialized_cif formula "):
                pairs = re.findall(r"([A-Z][a-z]?) (\d+)_int", line)
                formula = "".join(f"{element}{count}" for element, count in pairs)
                if formula and formula not in seen:
                    seen.add(formula)
                    yield formula, Composition(formula)


def real_compounds() -> dict[str, list[tuple[str, Composition]]]:
    """The real-compound reference set, by source (see the module docstring)."""
    with quiet_pymatgen():
        return {
            "pymatgen": list(pymatgen_structure_compounds()),
            "mist_demo": list(mist_demo_compounds()),
            "experimental": list(experimental_compounds()),
            "textbook": [(formula, Composition(formula)) for formula, _ in textbook_compounds()],
        }
