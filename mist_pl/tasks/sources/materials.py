"""Material-generation requests from crystals that ship with pymatgen.

Each shipped structure (:func:`mist_pl.chem.crystal_library.shipped_structures`: 21
test structures and 288 AFLOW prototypes) gives one request, its element set and
space group (spglib); charge-balanced element substitutions of it
(:func:`mist_pl.chem.substitution.charge_balanced_substitutions`, SMACT-checked) give
more, with the parent's space group (a substitution keeps the symmetry of the sites).
Elemental crystals and compositions SMACT rejects (with the build's oxidation-state set,
strict by default: :mod:`mist_pl.chem.charge_balance`) are dropped: the reward requires
charge balance, so a request no answer can fully satisfy would teach nothing.

The reference answer is the cell's formula (``"Na4Cl4"``): one token per atom of the
cell in the ``El El ... <sgN>`` answer format.
"""

from __future__ import annotations

from collections.abc import Iterator

from mist_pl.chem.charge_balance import is_charge_balanced
from mist_pl.chem.crystal_library import shipped_structures
from mist_pl.chem.crystals import space_group as find_space_group
from mist_pl.chem.substitution import charge_balanced_substitutions
from mist_pl.tasks.examples import Tally
from mist_pl.tasks.material_checks import ChargeSettings

MAX_CELL_ATOMS = 40  # longer answers than this are not worth a prompt for a small model


def _formula(counts: dict[str, int]) -> str:
    return "".join(f"{element}{n}" for element, n in sorted(counts.items()))


def material_request(structure, origin: str, tally: Tally, space_group: int | None = None,
                     charge: ChargeSettings = ChargeSettings(), parent: str | None = None) -> dict | None:
    """One example dict for a structure, or None (counted) when it cannot be a request.
    The example carries ``charge`` as its ``oxidation_states`` / ``mixed_valence`` columns,
    so the reward judges answers by the rule its requests were chosen by, and ``parent``
    (the crystal it was made from) as ``split_group``, so a parent and its substitutions
    share a split."""
    composition = structure.composition
    counts = {el.symbol: int(round(n)) for el, n in composition.element_composition.items()}
    if len(counts) < 2:
        tally.drop("elemental crystal", origin)
        return None
    if any(abs(n - round(n)) > 1e-6 for n in composition.element_composition.values()):
        tally.drop("partial occupancies", origin)
        return None
    if sum(counts.values()) > MAX_CELL_ATOMS:
        tally.drop(f"more than {MAX_CELL_ATOMS} atoms in the cell", origin)
        return None
    if not is_charge_balanced(counts, oxidation_states=charge.oxidation_states, mixed_valence=charge.mixed_valence):
        tally.drop("not charge balanced (SMACT)", origin)
        return None
    number = space_group if space_group is not None else find_space_group(structure)[1]
    return {"elements": sorted(counts), "space_group": number, "answer": _formula(counts), "origin": origin,
            "split_group": parent or origin, "oxidation_states": charge.oxidation_states,
            "mixed_valence": charge.mixed_valence}


def shipped_material_requests(tally: Tally, substitutions: int = 2, seed: int = 0, limit: int | None = None,
                              charge: ChargeSettings = ChargeSettings()) -> Iterator[dict]:
    """Requests from every shipped structure and up to ``substitutions`` substituted
    variants of each (deterministic for ``seed``), charge balanced under ``charge``."""
    for n, (name, structure) in enumerate(shipped_structures()):
        if limit is not None and n >= limit:
            return
        origin = f"pymatgen:{name}"
        try:
            number = find_space_group(structure)[1]
            request = material_request(structure, origin, tally, number, charge, parent=origin)
        except Exception as error:  # a malformed shipped entry must not end the build
            tally.drop("unreadable structure", f"{origin}: {error}")
            continue
        if request is None:
            continue
        yield request
        for mapping, variant in charge_balanced_substitutions(structure, n=substitutions, seed=seed,
                                                              oxidation_states=charge.oxidation_states,
                                                              mixed_valence=charge.mixed_valence):
            swap = ",".join(f"{old}->{new}" for old, new in mapping.items())
            sub = material_request(variant, f"{origin} [{swap}]", tally, number, charge, parent=origin)
            if sub is not None:
                yield sub
