"""Two gloo ranks: FSDP2 reshard-after-forward settings of every unit before and after a
sampling round, and whether the root stays gathered after a training forward.

    python fsdp_reshard_script.py <out_dir>     (run by test_fsdp_reshard.py)
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: gloo_ranks
from gloo_ranks import run_ranks, write_result  # noqa: E402


def settings(model) -> dict[str, bool]:
    """Each FSDP2 unit's reshard-after-forward flag as FSDP2 holds it (it has no getter)."""
    from torch.distributed.fsdp import FSDPModule

    out = {}
    for name, unit in model.named_modules():
        if isinstance(unit, FSDPModule):
            groups = unit._get_fsdp_state()._fsdp_param_groups
            out[name] = any(g.post_forward_mesh_info is not None for g in groups)
    return out


def root_gathered_after_forward(model, ids) -> bool:
    """Run a training forward; is the root unit's own weight (the embedding) still gathered?"""
    from torch.distributed.tensor import DTensor

    model.train()
    loss = model(input_ids=ids, labels=ids, use_cache=False).loss
    gathered = not isinstance(model.get_input_embeddings().weight, DTensor)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return gathered


def check(rank, mesh, out_dir):
    from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
    from mist_pl.models.sharding import apply_fsdp2
    from mist_pl.rl.sampling import HFSampler, SamplingConfig

    torch.manual_seed(0)
    cfg = ModelConfig()
    tokenizer = build_tokenizer(cfg)
    model = build_model(cfg, tokenizer)
    apply_fsdp2(model, mesh)
    ids = torch.randint(10, 200, (2, 16))
    first = root_gathered_after_forward(model, ids)  # also FSDP2's lazy init
    # A unit set apart by hand must get its own setting back too.
    model.model.layers[1].set_reshard_after_forward(False, recurse=False)
    before = settings(model)
    sampler = HFSampler(SamplingConfig(max_new_tokens=6, stop_strings=[]), tokenizer)
    prompt = torch.randint(10, 200, (2, 8))
    sampler.generate(model, prompt, torch.ones_like(prompt), num_generations=2, all_finished=None)
    after = settings(model)
    write_result(out_dir, rank, {"before": before, "after": after, "root_gathered_first": first,
                                 "root_gathered_after_sampling": root_gathered_after_forward(model, ids)})


if __name__ == "__main__":
    run_ranks(check, sys.argv[1])
