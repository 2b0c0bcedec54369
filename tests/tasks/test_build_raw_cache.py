"""Optional: the real fetched files (data/raw), when a developer has fetched them."""

import json
from pathlib import Path

import pytest

from mist_pl.tasks.build import main
from mist_pl.tasks.sources.fetch import PINS, sha256_of

RAW = Path(__file__).resolve().parents[2] / "data" / "raw"
needs_cache = pytest.mark.skipif(
    not (RAW / "MANIFEST.json").exists(), reason=f"no fetched data at {RAW} (python -m mist_pl.tasks.sources.fetch --out data/raw)"
)


@needs_cache
def test_real_cache_matches_the_pins_and_builds(tmp_path):
    manifest = json.loads((RAW / "MANIFEST.json").read_text())
    pinned = {p.name: p for p in PINS}
    for entry in manifest["pins"]:
        assert entry["sha256"] == pinned[entry["name"]].sha256
        for member in pinned[entry["name"]].members:
            if member.sha256:
                path = RAW / member.dest / member.pattern[len(member.strip):]
                assert sha256_of(path) == member.sha256, path
    out = tmp_path / "naming"
    assert main(["--task", "rxn_naming", "--source", "raw", "--raw-dir", str(RAW), "--out", str(out), "--limit", "40"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert sum(summary["kept"].values()) >= 60 and summary["raw_manifest"]["pins"]
    assert sum(summary["sft"]["train"]["dropped"].values()) == 0
