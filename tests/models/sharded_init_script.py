"""Two gloo ranks build modules under FSDP2 the way ModelParallelStrategy does (a device
mesh, then ``configure_model``) and write what the tests check, one JSON file per rank.

    python sharded_init_script.py exact <model folder> <out_dir>
        the policy is created sharded and reads only its shards: compare its gathered
        weights and logits with a plain from_pretrained model; the GRPO reference is
        sharded like it, filled shard to shard, and out of the state dict unless refreshed
    python sharded_init_script.py memory <model folder> <out_dir>
        peak resident memory (VmHWM, reset before each build) added by configure_model of
        a CPT module and of a GRPO module with a reference
"""

import gc
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: gloo_ranks
from gloo_ranks import run_ranks, write_result  # noqa: E402


def status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak() -> int:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux clear_refs 5); return it."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_bytes("VmRSS")


def grpo(folder: str, refresh: int = 0):
    from mist_pl.models.factory import ModelConfig
    from mist_pl.modules.grpo import GRPOModule
    from mist_pl.rl.config import GRPOConfig

    return GRPOModule(lm=ModelConfig(name_or_path=folder), rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}],
                      grpo=GRPOConfig(beta=0.04, reward_runner="thread", ref_refresh_steps=refresh))


def configured(module, mesh):
    from torch.distributed.device_mesh import DeviceMesh

    module._device_mesh = DeviceMesh(mesh.device_type, mesh.mesh, mesh_dim_names=("data_parallel",))
    module.configure_model()
    return module


class Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record) -> None:
        self.lines.append(record.getMessage())


def exact(rank, mesh, out_dir, folder):
    from torch.distributed.tensor import DTensor
    from transformers import AutoModelForCausalLM

    messages = Messages()
    logger = logging.getLogger("mist_pl.models")
    logger.setLevel(logging.INFO)
    logger.addHandler(messages)
    module = configured(grpo(folder), mesh)
    policy, reference = module.model, module.reference
    plain = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    plain_state = plain.state_dict()
    same = all(torch.equal(p.full_tensor(), plain_state[n]) for n, p in policy.named_parameters())
    sharded = all(isinstance(p, DTensor) for p in policy.parameters())
    ids = torch.randint(10, 500, (2, 12), generator=torch.Generator().manual_seed(0))
    policy.eval(), plain.eval(), reference.eval()
    with torch.no_grad():
        sharded_logits, plain_logits, ref_logits = policy(ids).logits, plain(ids).logits, reference(ids).logits
    refreshed = configured(grpo(folder, refresh=2), mesh)
    write_result(out_dir, rank, {
        "sharded": sharded,
        "created_sharded": any("sharded at creation" in line for line in messages.lines),
        "read_mb": [float(line.split()[1]) for line in messages.lines if line.startswith("read ")],
        "plain_bytes": sum(t.numel() * t.element_size() for t in plain.parameters()),
        "reference_sharded": all(isinstance(p, DTensor) for p in reference.parameters()),
        "weights_equal": same,
        "logits_equal": bool(torch.equal(sharded_logits, plain_logits)),
        "reference_logits_equal": bool(torch.equal(ref_logits, plain_logits)),
        "tied": policy.get_output_embeddings().weight is policy.get_input_embeddings().weight,
        "reference_keys_saved": sum(k.startswith("reference.") for k in module.state_dict()),
        "reference_keys_saved_when_refreshed": sum(k.startswith("reference.") for k in refreshed.state_dict()),
        "policy_keys_saved": sum(k.startswith("model.") for k in module.state_dict()),
    })


def memory(rank, mesh, out_dir, folder):
    from transformers import AutoConfig, AutoModelForCausalLM

    from mist_pl.models.factory import ModelConfig
    from mist_pl.modules.causal_lm import CausalLMModule

    with torch.device("meta"):  # also imports the architecture's modules: not model memory
        params = sum(p.numel() for p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder)).parameters())
    result = {"unsharded_fp32_bytes": params * 4}
    for name, make in (("cpt", lambda: CausalLMModule(lm=ModelConfig(name_or_path=folder))), ("grpo", lambda: grpo(folder))):
        module = make()  # tokenizer and rewards: not model memory
        base = reset_peak()
        configured(module, mesh)
        result[f"{name}_peak_bytes"] = status_bytes("VmHWM") - base
        del module
        gc.collect()
    write_result(out_dir, rank, result)


if __name__ == "__main__":
    mode, folder, out = sys.argv[1:4]
    run_ranks({"exact": exact, "memory": memory}[mode], out, folder)
