"""The command line closes the process group of a run that finished, and only then.

Left open, gloo's threads can abort the process at interpreter exit after the last
checkpoint is written (exit 250, seen intermittently in the two-rank SLURM test). Each
test runs in a child process so that a process group never outlives it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import os, socket, sys
    import torch.distributed as dist
    import mist_pl.cli as cli

    with socket.socket() as s:  # a free port for the one-rank group
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Run:  # stands in for MistCLI: a run that sets up a process group as Lightning does
        def __init__(self, *args, **kwargs):
            dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
            if os.environ["CASE"] == "fails":
                raise RuntimeError("the run failed")

    cli.MistCLI = Run
    sys.argv = ["cli.py", "fit"]
    try:
        cli.main(None if os.environ["CASE"] != "embedded" else ["fit"])
    except RuntimeError:
        pass
    print("initialized" if dist.is_initialized() else "closed")
""")


def run_child(case: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CASE": case})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_finished_command_line_run_destroys_its_process_group():
    assert run_child("finishes") == "closed"


@pytest.mark.parametrize("case", ["fails", "embedded"])
def test_a_failed_run_or_an_embedding_program_keeps_the_group(case):
    # A failed rank must not wait on peers that may be inside a collective; a program that
    # calls main(args) owns its process group and closes it itself.
    assert run_child(case) == "initialized"
