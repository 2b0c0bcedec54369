"""The sbatch templates, rendered and run under a fake SLURM on this machine.

``srun`` and ``scontrol`` are replaced by tests/ops/fake_slurm (2 tasks on one "node",
the variables real srun sets); the template's own bash runs unchanged. The CPT template
then trains the tiny model with 2 ranks (FSDP2 over gloo), is sent SIGUSR1 as SLURM does
before the time limit, checkpoints, requeues itself, and the "requeued" job resumes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ops_helpers import REPO, assert_shell_script_clean, cpt_config, read_losses

TEMPLATES = sorted((REPO / "scripts" / "slurm").glob("*.sbatch"))
FAKE_SLURM = Path(__file__).with_name("fake_slurm")
JOB_ID = "4242"


def render(template: Path, out_dir: Path) -> Path:
    """Fill the one placeholder a user must change: the partition."""
    text = template.read_text()
    assert text.count("CHANGE_ME") == 1, f"{template.name}: the partition must be the only placeholder"
    rendered = out_dir / template.name
    rendered.write_text(text.replace("CHANGE_ME", "debug"))
    return rendered


def sbatch_options(path: Path) -> dict[str, str]:
    options = {}
    for line in path.read_text().splitlines():
        match = re.match(r"#SBATCH --([\w-]+)(?:=(\S+))?", line)
        if match:
            options[match[1]] = match[2] or ""
    return options


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slurm_env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "PL_"))}
    env.update(
        PATH=f"{FAKE_SLURM}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        PYTHON=sys.executable, PYTHONPATH=str(Path(__file__).parent), FAKE_SLURM_DIR=str(state),
        SLURM_JOB_ID=JOB_ID, SLURM_JOB_NAME="mist-cpt", SLURM_NNODES="1", SLURM_NTASKS_PER_NODE="2",
        SLURM_JOB_NODELIST="localhost", SLURM_SUBMIT_DIR=str(REPO), SLURM_CPUS_PER_TASK="1",
        MASTER_PORT=str(free_port()), MIST_PL_REWARD_RUNNER="thread",
    )
    env.update(extra)
    return env


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.stem for t in TEMPLATES])
def test_template_header_and_shell(template, tmp_path):
    rendered = render(template, tmp_path)
    options = sbatch_options(rendered)
    assert options["partition"] == "debug"
    assert options["ntasks-per-node"] == options["gpus-per-node"]  # one task per GPU
    assert re.fullmatch(r"SIGUSR1@\d+", options["signal"]) and "requeue" in options
    assert_shell_script_clean(rendered)


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.stem for t in TEMPLATES])
def test_template_launches_cli_with_the_allocation(template, tmp_path):
    """What srun is asked to run: cli.py fit with the job's nodes x GPUs, a run version
    that survives requeues, and --ckpt_path last (extra arguments passed through)."""
    env = slurm_env(tmp_path, FAKE_SRUN_DRY="1", SLURM_NNODES="2")
    env.pop("PYTHON")
    result = subprocess.run(["bash", str(render(template, tmp_path)), "--trainer.max_steps=7"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    command = json.loads((tmp_path / "srun.json").read_text())
    line = " ".join(command)
    assert command[:3] == ["python", "cli.py", "fit"]
    for expected in ("--trainer.num_nodes 2", "--trainer.devices 2", "--trainer.strategy.init_args.data_parallel_size 4",
                     f"--trainer.logger.init_args.version job_{JOB_ID}", "--ckpt_path last --trainer.max_steps=7"):
        assert expected in line, expected
    config = command[command.index("--config") + 1]
    assert (REPO / config).is_file(), f"the template's default recipe {config} is missing from conf/recipes"


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            out, _ = process.communicate()
            pytest.fail(f"job ended (rc {process.returncode}) before {what}:\n{out[-4000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def catches_sigusr1(pid: int) -> bool:
    """Whether the process has installed a SIGUSR1 handler (bit 10 of SigCgt)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    caught = int(re.search(r"SigCgt:\s*([0-9a-f]+)", status)[1], 16)
    return bool(caught & (1 << (signal.SIGUSR1 - 1)))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads signal masks from /proc (Linux)")
def test_cpt_template_two_ranks_requeue_on_sigusr1_and_resume(tmp_path):
    config = yaml.safe_load(cpt_config(tmp_path).read_text())
    # As in the recipes: FSDP2 with a data_parallel_size that the template must override.
    config["trainer"]["strategy"] = {"class_path": "lightning.pytorch.strategies.ModelParallelStrategy",
                                     "init_args": {"data_parallel_size": 8, "tensor_parallel_size": 1}}
    config_path = tmp_path / "cpt_fsdp.yaml"
    config_path.write_text(yaml.safe_dump(config))
    script = render(REPO / "scripts/slurm/cpt.sbatch", tmp_path)
    env = slurm_env(tmp_path, CONFIG=str(config_path))
    record = json.dumps({"class_path": "ops_helpers.LossRecorder", "init_args": {"out": str(tmp_path / "losses.jsonl")}})
    args = ["--trainer.accelerator=cpu", f"--trainer.callbacks+={record}"]

    job = subprocess.Popen(["bash", str(script), *args, "--trainer.max_steps=1000"], env=env, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = tmp_path / "tasks.pids"
    wait_for(lambda: pids.exists() and all(catches_sigusr1(int(p)) for p in pids.read_text().split()), 180,
             "both ranks installed their SIGUSR1 handler", job)
    for pid in pids.read_text().split():
        os.kill(int(pid), signal.SIGUSR1)  # what `#SBATCH --signal=SIGUSR1@90` does to the job's tasks
    out, _ = job.communicate(timeout=180)
    assert job.returncode == 0, out[-4000:]
    assert (tmp_path / "requeued").read_text().split() == [JOB_ID], out[-4000:]
    ckpt = tmp_path / "runs" / "cpt_tiny" / f"job_{JOB_ID}" / "checkpoints" / "last.ckpt"
    assert (ckpt / "meta.pt").is_file() and len(list(ckpt.glob("*.distcp"))) == 2  # one shard per rank
    first = read_losses(tmp_path / "losses.jsonl")
    stopped_at = max(first)
    assert stopped_at < 1000

    # The requeued job: same job id, so the same run folder and --ckpt_path last finds it.
    (tmp_path / "losses.jsonl").unlink()
    env["SLURM_RESTART_COUNT"] = "1"
    resumed = subprocess.run(["bash", str(script), *args, f"--trainer.max_steps={stopped_at + 2}"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]
    assert "(restart 1)" in resumed.stdout
    second = read_losses(tmp_path / "losses.jsonl")
    assert sorted(second) == [stopped_at + 1, stopped_at + 2]  # continued, not restarted
    rows = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert {row["world_size"] for row in rows} == {2}
