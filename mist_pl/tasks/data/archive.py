"""Check an archive's sha256 and extract selected members safely.

Source archives (``.tar.gz``) wrap everything in one top folder (``drfp-0.3.7/``);
member patterns are matched below it. Wheels (``.whl``, zip) are matched as they are.
A member path that is absolute or climbs out with ``..`` is refused: archives are
input, and extraction must never write outside the output folder.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from mist_pl.tasks.data.pins import Member

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
