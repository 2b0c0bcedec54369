"""Run a function on two CPU processes joined by gloo, as FSDP2 runs on a cluster.

``run_ranks(fn, out_dir, *args)`` starts ``world`` processes (spawned: ``fn`` must be
importable, i.e. defined at the top level of a script guarded by ``__main__``); each initializes the
process group, builds a 1-D device mesh and calls ``fn(rank, mesh, out_dir, *args)``,
which writes what the test reads (one JSON file per rank, by convention). Used by the
standalone ``*_script.py`` files that tests run in a subprocess, so a hang is bounded by
the subprocess timeout and the test process never initializes torch.distributed.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _entry(rank: int, world: int, port: int, fn, out_dir: str, args: tuple) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh("cpu", (world,))
        fn(rank, mesh, out_dir, *args)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_ranks(fn, out_dir: str, *args, world: int = 2) -> None:
    mp.spawn(_entry, args=(world, free_port(), fn, out_dir, args), nprocs=world, join=True)


def write_result(out_dir: str, rank: int, result: dict) -> None:
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))


def read_results(out_dir: str | Path, world: int = 2) -> list[dict]:
    return [json.loads(Path(out_dir, f"rank{r}.json").read_text()) for r in range(world)]
