"""Sampling under FSDP2 gathers every unit for the whole generation, then gives each unit
back its own reshard-after-forward setting: the root (embeddings, output head) stays
gathered between a training forward and its backward, in the first round and after."""

import subprocess
import sys
from pathlib import Path

from gloo_ranks import read_results

SCRIPT = Path(__file__).with_name("fsdp_reshard_script.py")


def test_sampling_restores_each_units_reshard_setting(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for rank in read_results(tmp_path):
        before, after = rank["before"], rank["after"]
        assert len(before) == 5  # four decoder layers and the root
        assert before == after
        assert before[""] is False  # the root keeps its parameters for the backward
        assert before["model.layers.1"] is False  # set apart by the script
        assert all(before[f"model.layers.{i}"] for i in (0, 2, 3))  # the other layers free theirs
        assert rank["root_gathered_first"] and rank["root_gathered_after_sampling"]
