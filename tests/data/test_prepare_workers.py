"""``prepare --workers N`` killed with ``kill -9``: its worker processes must exit too. They
sat on the pool's task queue (whose other end they hold themselves, so it never closes)
and stayed alive, about 240 MB each, for over a minute."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

WORKERS = 2
EXIT_WITHIN_S = 10.0  # they now exit as soon as the parent is gone (well under a second)


def children(pid: int) -> list[int]:
    """Pool workers of ``pid``: its children started by multiprocessing's spawn."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent (init here) has to reap it


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the workers")
def test_workers_exit_when_prepare_is_killed(tmp_path, tokenizer_dir):
    docs = tmp_path / "docs.jsonl"
    with docs.open("w") as handle:  # enough work that the pool is still busy when it is killed
        for i in range(200_000):
            handle.write(json.dumps({"text": f"document {i}: the ethanol molecule and the benzene ring {i % 97}"}) + "\n")
    mix = {"name": "big", "seed": 1, "tokenizer": tokenizer_dir, "output_dir": str(tmp_path / "out"),
           "shard_records": 2000, "sources": [{"name": "docs", "format": "jsonl", "path": str(docs), "weight": 1.0}]}
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(mix))
    parent = subprocess.Popen(
        [sys.executable, "-m", "mist_pl.data.prepare", "--config", str(tmp_path / "mix.yaml"),
         "--workers", str(WORKERS), "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < WORKERS and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
            workers = children(parent.pid)
        assert len(workers) == WORKERS, f"prepare did not start {WORKERS} workers (exit code {parent.poll()})"
        time.sleep(1.0)  # let them pick up chunks
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + EXIT_WITHIN_S
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [w for w in workers if alive(w)]
        assert not left, f"workers {left} still alive {EXIT_WITHIN_S:.0f} s after prepare was killed"
    finally:
        parent.kill()
        for worker in workers:
            if alive(worker):
                os.kill(worker, signal.SIGKILL)  # only the workers this test's prepare started
