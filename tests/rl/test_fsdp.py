import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("fsdp_grpo_script.py")


def test_grpo_under_fsdp2_on_two_cpu_processes(tmp_path):
    """Sampling, reference KL, micro-batched updates and reference refresh with a sharded
    policy: ranks must issue the same collectives or this hangs (bounded by the timeout)."""
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=240,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    line = next(l for l in out.stdout.splitlines() if l.startswith("FSDP-GRPO-OK"))
    assert "steps=4" in line
    kl = float(line.split("kl=")[1].split()[0])
    assert kl >= 0.0
