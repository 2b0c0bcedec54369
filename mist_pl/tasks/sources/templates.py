"""Curated RDKit reaction templates, a few per MiST reaction class.

They exist only to top up classes that the real data sets leave thin
(:mod:`.template_fill`); every reaction they make is marked synthetic. Each template
is applied to a *real* molecule (shipped with RDKit, :func:`.template_fill.template_reactions`) and,
where the reaction needs a partner, to fixed simple co-reactants (acetyl chloride,
phenylboronic acid, Boc2O, ...).

Conventions of the table:

* reactant template 0 matches the real molecule; reactant templates 1.. match the
  ``co_reactants`` in order. Atoms of a co-reactant outside its template (the phenyl
  of benzyl bromide) are carried into the product by RDKit, so templates name only
  the atoms that change;
* ``agents`` are the usual reagents, solvent left out: real reactions show them, so a
  synthetic row without them would be easy to spot for the wrong reason;
* labels follow what the real data call each reaction, not textbook taste. In
  schneider50k "Functional Group Addition" (superclass 10) is aromatic halogenation
  and nitration, ester hydrolysis is a deprotection (6.2), and oxidations (8) are
  "Miscellaneous" only under the default oxidation policy, so oxidation templates
  carry the label ``"Oxidation"`` and go through that policy
  (:func:`template_class`);
* protecting groups are rare in the shipped (old NCI) molecules, so a deprotection
  may take as substrates the products of its protection template
  (``substrate_via``): the Boc-protected forms of real amines, whose deprotection
  gives back the real amine;
* sites are kept unambiguous by the generator (one distinct product per molecule),
  which stands in for the selectivity a chemist would arrange.
"""

from __future__ import annotations

from dataclasses import dataclass

from mist_pl.tasks.sources.reaction_classes import DEFAULT_OXIDATION_POLICY, OXIDATION, oxidation_label


@dataclass(frozen=True)
class ReactionTemplate:
    name: str
    label: str  # one of the ten MiST classes, or "Oxidation"
    smarts: str
    co_reactants: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    substrate_via: str | None = None  # name of a template whose products are the substrates


# Aliphatic amine N with an H that can be acylated/alkylated: not an amide,
# sulfonamide, hydrazine/hydroxylamine, doubly bonded or charged N. _AMINE also
# excludes anilines (weak nucleophiles for SN2/SNAr); _ANY_AMINE keeps them.
_AMINE = "[NX3;H2,H1;!$(N[C,S,P]=[O,S,N]);!$(N[#7,#8]);!$(N-a);!$(N=*);+0]"
_PRIMARY_AMINE = "[NX3;H2;!$(N[C,S,P]=[O,S,N]);!$(N[#7,#8]);+0;$(N[CX4])]"  # on an sp3 carbon
_ANY_AMINE = "[NX3;H2,H1;!$(N[C,S,P]=[O,S,N]);!$(N[#7,#8]);!$(N=*);+0]"
# An aromatic CH para to an activating O/N substituent: where SEAr goes.
_PARA_ACTIVATED = "[cH;$(c1ccc([OX2,NX3;!$([N+]);!$(N=O)])cc1)]"


def _mapped(atom_query: str, number: int) -> str:
    """``[query]`` -> ``[query:number]``: give a shared atom query a map number."""
    return f"{atom_query[:-1]}:{number}]"


_PD_OAC2 = "CC(=O)[O-].CC(=O)[O-].[Pd+2]"

TEMPLATES: tuple[ReactionTemplate, ...] = (
    # --- Acylation -------------------------------------------------------------------
    ReactionTemplate(
        "amide_from_acyl_chloride", "Acylation",
        f"{_mapped(_AMINE, 1)}.[C:2](=[O:3])Cl>>[N:1][C:2]=[O:3]",
        ("CC(=O)Cl",), ("CCN(CC)CC",),
    ),
    ReactionTemplate(
        "amide_from_acid", "Acylation",
        "[CX3;$(C[#6]):1](=[O:2])[OX2H1].[NX3;H2:3]>>[C:1](=[O:2])[N:3]",
        ("NCc1ccccc1",), ("CCN(C(C)C)C(C)C", "CN(C)C(On1nnc2cccnc21)=[N+](C)C.F[P-](F)(F)(F)(F)F"),
    ),
    ReactionTemplate(
        "sulfonamide_from_sulfonyl_chloride", "Acylation",
        f"{_mapped(_ANY_AMINE, 1)}.[S:2](=[O:3])(=[O:4])Cl>>[N:1][S:2](=[O:3])=[O:4]",
        ("Cc1ccc(S(=O)(=O)Cl)cc1",), ("c1ccncc1",),
    ),
    # --- Aromatic Heterocycle Formation ----------------------------------------------
    ReactionTemplate(
        "benzimidazole_from_acid", "Aromatic Heterocycle Formation",
        "[CX3;$(C[#6]):1](=O)[OX2H1].[NH2:2][c:3][c:4][NH2:5]>>[c:1]1[nH:2][c:3][c:4][n:5]1",
        ("Nc1ccccc1N",), ("O=P(O)(O)O",),
    ),
    ReactionTemplate(
        "benzimidazole_from_aldehyde", "Aromatic Heterocycle Formation",
        "[CX3H1;$(C[#6]):1]=O.[NH2:2][c:3][c:4][NH2:5]>>[c:1]1[nH:2][c:3][c:4][n:5]1",
        ("Nc1ccccc1N",), ("O=S([O-])S(=O)[O-].[Na+].[Na+]",),
    ),
    ReactionTemplate(
        "tetrazole_from_nitrile", "Aromatic Heterocycle Formation",
        "[CX2;$(C[#6]):1]#[N:2].[N-:3]=[N+:4]=[N-:5]>>[c:1]1[n:2][n+0:5][n+0:4][nH+0:3]1",
        ("[N-]=[N+]=[N-].[Na+]",), ("[Cl-].[NH4+]",),
    ),
    ReactionTemplate(
        "paal_knorr_pyrrole", "Aromatic Heterocycle Formation",
        f"{_mapped(_PRIMARY_AMINE, 1)}.[CH3:2][C:3](=O)[CH2:4][CH2:5][C:6](=O)[CH3:7]>>[CH3:2][c:3]1[cH:4][cH:5][c:6]([CH3:7])[n:1]1",
        ("CC(=O)CCC(C)=O",), ("CC(=O)O",),
    ),
    # --- C-C Coupling ----------------------------------------------------------------
    ReactionTemplate(
        "suzuki_aryl_halide", "C-C Coupling",
        "[c:1][Br,I].[c:2]B(O)O>>[c:1]-[c:2]",
        ("OB(O)c1ccccc1",), ("O=C([O-])[O-].[K+].[K+]", "c1ccc([P](c2ccccc2)(c2ccccc2)[Pd]([P](c2ccccc2)(c2ccccc2)c2ccccc2)([P](c2ccccc2)(c2ccccc2)c2ccccc2)[P](c2ccccc2)(c2ccccc2)c2ccccc2)cc1"),
    ),
    ReactionTemplate(
        "sonogashira_aryl_halide", "C-C Coupling",
        "[c:1][Br,I].[CH1:2]#[C:3]>>[c:1][C:2]#[C:3]",
        ("C#Cc1ccccc1",), ("CCN(CC)CC", "[Cu]I", _PD_OAC2),
    ),
    ReactionTemplate(
        "heck_aryl_halide", "C-C Coupling",
        "[c:1][Br,I].[CH2:2]=[CH1:3][C:4](=[O:5])[O:6]>>[c:1]/[CH1:2]=[CH1:3]/[C:4](=[O:5])[O:6]",
        ("C=CC(=O)OC",), ("CCN(CC)CC", _PD_OAC2),
    ),
    # --- Deprotection ----------------------------------------------------------------
    ReactionTemplate(
        "boc_removal", "Deprotection",
        "[N:1]C(=O)OC([CH3])([CH3])[CH3]>>[N:1]",
        (), ("O=C(O)C(F)(F)F",), substrate_via="boc_protection",
    ),
    ReactionTemplate(
        "tbs_removal", "Deprotection",
        "[C:1][O:2][Si](C)(C)C(C)(C)C>>[C:1][OH1:2]",
        (), ("CCCC[N+](CCCC)(CCCC)CCCC.[F-]",), substrate_via="tbs_protection",
    ),
    ReactionTemplate(
        "methyl_or_ethyl_ester_hydrolysis", "Deprotection",
        # the carbonyl on carbon: a carbamate is not an ester (it would give a carbamic acid)
        "[CX3;$(C[#6]):1](=[O:2])[OX2:3][$([CH3]),$([CH2][CH3])]>>[C:1](=[O:2])[OH1:3]",
        (), ("[Li+].[OH-]",),
    ),
    # --- Functional Group Addition (SEAr, as schneider50k's superclass 10) --------------
    ReactionTemplate(
        "aromatic_bromination_nbs", "Functional Group Addition",
        f"{_mapped(_PARA_ACTIVATED, 1)}.O=C1CCC(=O)N1[Br:2]>>[c:1][Br:2]",
        ("O=C1CCC(=O)N1Br",), (),
    ),
    ReactionTemplate(
        "aromatic_chlorination_ncs", "Functional Group Addition",
        f"{_mapped(_PARA_ACTIVATED, 1)}.O=C1CCC(=O)N1[Cl:2]>>[c:1][Cl:2]",
        ("O=C1CCC(=O)N1Cl",), (),
    ),
    ReactionTemplate(
        "aromatic_nitration", "Functional Group Addition",
        f"{_mapped(_PARA_ACTIVATED, 1)}.[O:2]=[N+:3]([O-:4])[OH]>>[c:1][N+:3](=[O:2])[O-:4]",
        ("O=[N+]([O-])O",), ("O=S(=O)(O)O",),
    ),
    # --- Functional Group Interconversion ----------------------------------------------
    ReactionTemplate(
        "acid_to_acid_chloride", "Functional Group Interconversion",
        "[CX3;$(C[#6]):1](=[O:2])[OX2H1]>>[C:1](=[O:2])Cl",
        (), ("O=S(Cl)Cl",),
    ),
    ReactionTemplate(
        "primary_alcohol_to_bromide", "Functional Group Interconversion",
        "[CH2;$(C[#6]);!$(C[a]):1][OX2H1]>>[C:1]Br",
        (), ("BrP(Br)Br",),
    ),
    ReactionTemplate(
        "alcohol_to_mesylate", "Functional Group Interconversion",
        "[CX4;!$(C[a]):1][OX2H1:2]>>[C:1][O:2]S(C)(=O)=O",
        (), ("CS(=O)(=O)Cl", "CCN(CC)CC"),
    ),
    ReactionTemplate(
        "nitrile_to_primary_amide", "Functional Group Interconversion",
        "[CX2;$(C[#6]):1]#[N:2]>>[C:1](=O)[NH2:2]",
        (), ("[K+].[OH-]", "OO"),
    ),
    # --- Heteroatom Alkylation and Arylation -------------------------------------------
    ReactionTemplate(
        "n_benzylation", "Heteroatom Alkylation and Arylation",
        f"{_mapped(_AMINE, 1)}.Br[CH2:2]>>[N:1][CH2:2]",
        ("BrCc1ccccc1",), ("O=C([O-])[O-].[K+].[K+]",),
    ),
    ReactionTemplate(
        "phenol_o_methylation", "Heteroatom Alkylation and Arylation",
        "[c:1][OX2H1:2].I[CH3:3]>>[c:1][O:2][CH3:3]",
        ("CI",), ("O=C([O-])[O-].[K+].[K+]",),
    ),
    ReactionTemplate(
        "snar_fluoronitrobenzene", "Heteroatom Alkylation and Arylation",
        f"{_mapped(_AMINE, 1)}.F[c:2]>>[N:1][c:2]",
        ("O=[N+]([O-])c1ccc(F)cc1",), ("CCN(C(C)C)C(C)C",),
    ),
    ReactionTemplate(
        "buchwald_bromobenzene", "Heteroatom Alkylation and Arylation",
        f"{_mapped(_ANY_AMINE, 1)}.Br[c:2]>>[N:1][c:2]",
        ("Brc1ccccc1",), ("CC(C)(C)[O-].[Na+]", _PD_OAC2),
    ),
    # --- Miscellaneous: oxidations, labelled through the oxidation policy ---------------
    ReactionTemplate(
        "secondary_alcohol_to_ketone", OXIDATION,
        "[CX4H1;$(C([#6])[#6]):1][OX2H1:2]>>[C:1]=[O:2]",
        (), ("CC(=O)OI1(OC(C)=O)(OC(C)=O)OC(=O)c2ccccc21",),
    ),
    ReactionTemplate(
        "primary_alcohol_to_aldehyde", OXIDATION,
        "[CH2;$(C[#6]):1][OX2H1:2]>>[C:1]=[O:2]",
        (), ("CS(C)=O", "O=C(Cl)C(=O)Cl", "CCN(CC)CC"),
    ),
    ReactionTemplate(
        "sulfide_to_sulfoxide", OXIDATION,
        "[#6:1][SX2:2][#6:3]>>[#6:1][S:2](=O)[#6:3]",
        (), ("O=C(OO)c1cccc(Cl)c1",),
    ),
    # --- Protection ------------------------------------------------------------------
    ReactionTemplate(
        "boc_protection", "Protection",
        f"{_mapped(_ANY_AMINE, 1)}.CC(C)(C)OC(=O)O[C:2](=[O:3])[O:4]>>[N:1][C:2](=[O:3])[O:4]",
        ("CC(C)(C)OC(=O)OC(=O)OC(C)(C)C",), ("CCN(CC)CC",),
    ),
    ReactionTemplate(
        "cbz_protection", "Protection",
        f"{_mapped(_ANY_AMINE, 1)}.Cl[C:2](=[O:3])[O:4]>>[N:1][C:2](=[O:3])[O:4]",
        ("O=C(Cl)OCc1ccccc1",), ("O=C([O-])O.[Na+]",),
    ),
    ReactionTemplate(
        "tbs_protection", "Protection",
        "[CX4;!$(C[a]):1][OX2H1:2].Cl[Si:3]>>[C:1][O:2][Si:3]",
        ("CC(C)(C)[Si](C)(C)Cl",), ("c1c[nH]cn1",),
    ),
    # --- Reduction -------------------------------------------------------------------
    ReactionTemplate(
        "nitro_to_amine", "Reduction",
        "[c,C:1][N+:2](=O)[O-]>>[*:1][NH2+0:2]",
        (), ("[Pd]", "[H][H]"),
    ),
    ReactionTemplate(
        "ketone_to_alcohol", "Reduction",
        "[#6:1][CX3:2](=[O:3])[#6:4]>>[#6:1][CH1:2]([OH1:3])[#6:4]",
        (), ("[BH4-].[Na+]",),
    ),
    ReactionTemplate(
        "ester_to_alcohol", "Reduction",
        # not lactones: a template deleting ring atoms would cut the ring, not open it
        "[#6:1][CX3:2](=O)[OX2;!R][CX4]>>[#6:1][CH2:2][OH1]",
        (), ("[AlH4-].[Li+]",),
    ),
    ReactionTemplate(
        "nitrile_to_amine", "Reduction",
        "[#6:1][CX2:2]#[N:3]>>[#6:1][CH2:2][NH2:3]",
        (), ("[AlH4-].[Li+]",),
    ),
)


def template_class(template: ReactionTemplate, oxidation_policy: str = DEFAULT_OXIDATION_POLICY) -> str | None:
    """The class a template's reactions get under ``oxidation_policy`` (None: dropped)."""
    return oxidation_label(oxidation_policy) if template.label == OXIDATION else template.label


def templates_for(label: str, oxidation_policy: str = DEFAULT_OXIDATION_POLICY) -> tuple[ReactionTemplate, ...]:
    """The templates whose reactions are of class ``label`` under the policy."""
    return tuple(t for t in TEMPLATES if template_class(t, oxidation_policy) == label)


def template_by_name(name: str) -> ReactionTemplate:
    for template in TEMPLATES:
        if template.name == name:
            return template
    raise KeyError(f"no reaction template named {name!r}")
