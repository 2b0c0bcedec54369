"""FSDP2 for a Hugging Face causal LM: sharding a built model, and building one sharded.

Sharding (:func:`apply_fsdp2`): one ``fully_shard`` per decoder layer.

Called from ``configure_model`` under Lightning's ``ModelParallelStrategy``, which builds
the device mesh; the same code shards on CPU (gloo, for tests) and on GPU clusters.

The root unit (embeddings, final norm, output head) is not resharded after forward when
the model trains: its backward starts right after the loss, with the output head, so
resharding it would all-gather it again at once (about 1.1B parameters at 7B). That is
FSDP2's own default for a root; it is written out here because passing
``reshard_after_forward=True`` to the root call, as every layer gets, turns it off.
A model that never runs backward (the GRPO reference) reshards its root after forward,
or it would hold the root's full parameters for good.

:func:`enable_activation_checkpointing`, the other way a big model fits, lives here too:
both the whole-model and the sharded builders use it.

Building sharded (:func:`build_sharded`): without any rank ever holding all of its weights.

``from_pretrained`` on every rank reads the whole checkpoint into every process (7B in
fp32: 30 GB per rank, eight times on a node) before ``fully_shard`` throws most of it
away, and a GRPO reference built the same way doubles that. Here instead:

1. the model is created on the ``meta`` device (shapes only; buffers such as RoPE
   frequencies are computed for real, they are small and not in checkpoints),
2. ``fully_shard`` splits the still-empty parameters (dim 0, one chunk per rank),
3. ``to_empty`` allocates each rank's shards, nothing more,
4. each rank reads from the ``safetensors`` files only the rows of its own shards, with
   plain file reads (no memory map whose pages would count against the process).

Peak memory per rank is then its shards plus one shard-sized read buffer. A second
model of the same shape (the GRPO reference) is made the same way from the policy's
config and filled shard to shard from the policy (:func:`sharded_copy`).

Used only when it can be exact: a local folder with ``safetensors`` weights whose names
are the model's own, no LoRA, no tokens added beyond the checkpoint's vocabulary.
:func:`sharded_build_blocker` says why not otherwise, and the caller falls back to
loading the whole model on every rank.
"""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


# -- sharding a built model -------------------------------------------------------------

def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks to shard one by one (``_no_split_modules`` names them in HF)."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise ValueError(f"{type(model).__name__} names no decoder layer class in _no_split_modules")
    return layers


def apply_fsdp2(
    model: nn.Module,
    mesh,
    param_dtype: torch.dtype | None = None,
    reduce_dtype: torch.dtype | None = torch.float32,
    reshard_after_forward: bool = True,
    trains: bool = True,
) -> nn.Module:
    """Shard ``model`` in place over ``mesh``.

    Each decoder layer becomes its own FSDP unit so only one layer's full parameters live
    in memory at a time; the root call covers embeddings, final norm and the (possibly
    tied) output head. ``param_dtype=torch.bfloat16`` gives bf16 compute with fp32
    master weights and fp32 gradient reduction. ``trains=False`` (a frozen model that
    never runs backward) reshards the root after forward too.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward)
    fully_shard(model, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward and not trains)
    return model


def fsdp_units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(qualified name, module)`` of every FSDP2 unit in ``model`` ("" is the root)."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover - torch without FSDP2
        return []
    return [(name, module) for name, module in model.named_modules() if isinstance(module, FSDPModule)]


def _param_groups(unit: nn.Module) -> list:
    state = unit._get_fsdp_state()
    groups = getattr(state, "_fsdp_param_groups", None)  # torch >= 2.8: a list
    if groups is None:
        group = getattr(state, "_fsdp_param_group", None)
        groups = [group] if group is not None else []
    return groups


def save_reshard_state(model: nn.Module) -> list[tuple]:
    """Each unit's exact reshard-after-forward state, for :func:`restore_reshard_state`.

    Saved as FSDP2 holds it (the post-forward mesh of every parameter group, and whether
    the root may still pick its own default at its first forward), so a restore gives back
    whatever a unit had, including the root's "keep gathered" and int (HSDP) settings."""
    saved = []
    for _, unit in fsdp_units(model):
        state = unit._get_fsdp_state()
        saved.append((state, getattr(state, "_auto_reshard_after_forward", None),
                      [(g, g.post_forward_mesh_info) for g in _param_groups(unit)]))
    return saved


def restore_reshard_state(saved: list[tuple]) -> None:
    for state, auto, groups in saved:
        if auto is not None:
            state._auto_reshard_after_forward = auto
        for group, mesh_info in groups:
            group.post_forward_mesh_info = mesh_info


def enable_activation_checkpointing(model: nn.Module) -> None:
    """Recompute each decoder layer in backward; non-reentrant, so frozen inputs (LoRA) work."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


# -- building a model sharded ----------------------------------------------------------

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
# safetensors dtype codes of the weights we read (other dtypes: fall back).
SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
SAFETENSORS_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}
HEADER_SIZE_BYTES = 8  # little-endian u64 length of the JSON header that starts the file
# Shards are read in pieces of at most this many bytes, so the read buffer stays small
# next to a shard of a 150k-row embedding.
READ_CHUNK_BYTES = 16 * 2**20


def read_header(path: Path) -> tuple[dict, int]:
    """``(tensor entries, byte offset of the data section)`` of one safetensors file."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(HEADER_SIZE_BYTES))
        header = json.loads(f.read(size))
    header.pop("__metadata__", None)
    return header, HEADER_SIZE_BYTES + size


def checkpoint_tensors(folder: Path) -> dict[str, tuple[Path, dict, int]] | None:
    """Every tensor name of the folder's safetensors weights -> (file, entry, data offset);
    None when the folder has no safetensors weights."""
    files: list[Path]
    if (folder / INDEX_FILE).is_file():
        weight_map = json.loads((folder / INDEX_FILE).read_text())["weight_map"]
        files = sorted({folder / name for name in weight_map.values()})
    elif (folder / SINGLE_FILE).is_file():
        files = [folder / SINGLE_FILE]
    else:
        return None
    out = {}
    for path in files:
        header, data_start = read_header(path)
        for name, entry in header.items():
            out[name] = (path, entry, data_start)
    return out


def read_rows(path: Path, entry: dict, data_start: int, start: int, stop: int) -> torch.Tensor:
    """Rows ``start:stop`` (dim 0) of one stored tensor, read from the file alone."""
    dtype = SAFETENSORS_DTYPES[entry["dtype"]]
    shape = entry["shape"]
    row_elems = 1
    for n in shape[1:]:
        row_elems *= n
    itemsize = SAFETENSORS_BYTES[entry["dtype"]]
    begin = data_start + entry["data_offsets"][0] + start * row_elems * itemsize
    count = (stop - start) * row_elems
    buffer = bytearray(count * itemsize)
    if count:
        with open(path, "rb") as f:
            f.seek(begin)
            f.readinto(buffer)
        return torch.frombuffer(buffer, dtype=dtype).reshape([stop - start, *shape[1:]])
    return torch.empty([0, *shape[1:]], dtype=dtype)


def shard_rows(param: torch.Tensor) -> tuple[int, int]:
    """The global row range of this rank's shard of an FSDP2 parameter (dim-0 ``torch.chunk``
    layout: ``ceil(n / ranks)`` rows per rank, the last ranks possibly shorter or empty)."""
    from torch.distributed.tensor import DTensor

    if not isinstance(param, DTensor):
        return 0, param.shape[0] if param.ndim else 1
    mesh = param.device_mesh
    ranks, rank = mesh.size(), mesh.get_local_rank()
    rows = param.shape[0]
    chunk = -(-rows // ranks)
    start = min(rows, rank * chunk)
    stop = min(rows, start + chunk)
    local = param.to_local().shape[0] if param.ndim else 1
    if stop - start != local:
        raise ValueError(f"shard layout of a {tuple(param.shape)} parameter: expected rows {start}:{stop} on rank "
                         f"{rank} of {ranks}, the local shard has {local}")
    return start, stop


def sharded_build_blocker(folder: Path | None, tokenizer: PreTrainedTokenizerBase, lora: object | None,
                          weights: dict | None) -> str | None:
    """Why the model cannot be built shard by shard from ``folder`` (None: it can)."""
    if folder is None:
        return "the tiny preset has no checkpoint to read shards from"
    if weights is not None:
        return "init_from_ckpt weights replace the folder's"
    if lora is not None:
        return "lm.lora wraps the model in adapters"
    tensors = checkpoint_tensors(folder)
    if tensors is None:
        return f"{folder} has no {SINGLE_FILE} or {INDEX_FILE}"
    if any(entry["dtype"] not in SAFETENSORS_DTYPES for _, entry, _ in tensors.values()):
        return f"{folder} stores a dtype other than {sorted(SAFETENSORS_DTYPES)}"
    config = AutoConfig.from_pretrained(folder)
    if len(tokenizer) > getattr(config, "vocab_size", len(tokenizer)):
        return "the tokenizer has tokens beyond the checkpoint's vocabulary (they are initialised from full rows)"
    return None


def empty_model(config, attn: str, dtype: torch.dtype) -> nn.Module:
    """``AutoModelForCausalLM.from_config`` with parameters on the meta device and real buffers."""
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        model = AutoModelForCausalLM.from_config(config, attn_implementation=attn, dtype=dtype)
    # The meta context re-creates every registered parameter, which unties a tied head.
    model.tie_weights()
    return model


def materialize(model: nn.Module, device: torch.device) -> None:
    """Allocate the (sharded) meta parameters on ``device``; buffers keep their values."""
    buffers = {name: b.detach().clone() for name, b in model.named_buffers() if b.device.type != "meta"}
    model.to_empty(device=device)  # sharded DTensor parameters are filled in place: ties hold
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if name in buffers:
                buffer.copy_(buffers[name])
    if getattr(model.config, "tie_word_embeddings", False):
        head, embed = model.get_output_embeddings(), model.get_input_embeddings()
        if head is not None and head.weight is not embed.weight:
            raise RuntimeError("materializing broke the tie between input and output embeddings")


@torch.no_grad()
def load_shards(model: nn.Module, folder: Path) -> int:
    """Fill every parameter's local shard from the folder's safetensors files; returns the
    number of bytes read. Names must match the model's exactly (a tied output head is
    the input embedding and is not read twice)."""
    tensors = checkpoint_tensors(folder) or {}
    read = 0
    missing = []
    for name, param in model.named_parameters():
        found = tensors.get(name)
        if found is None:
            missing.append(name)
            continue
        path, entry, data_start = found
        if list(entry["shape"]) != list(param.shape):
            raise ValueError(f"{path}: {name} has shape {entry['shape']}, the model {list(param.shape)}")
        start, stop = shard_rows(param)
        local = param.to_local() if hasattr(param, "to_local") else param
        flat = local.view(stop - start, -1) if local.ndim else local.view(1, 1)
        row_bytes = max(1, flat.shape[1]) * SAFETENSORS_BYTES[entry["dtype"]]
        step = max(1, READ_CHUNK_BYTES // row_bytes)
        for begin in range(start, stop, step):
            end = min(stop, begin + step)
            rows = read_rows(path, entry, data_start, begin, end)
            flat[begin - start : end - start].copy_(rows.reshape(end - begin, -1))
            read += rows.numel() * rows.element_size()
    if missing:
        raise ValueError(f"{folder}: {len(missing)} parameter(s) of the model are not in its weights, e.g. {missing[:3]}")
    return read


def build_sharded(config, folder: Path | None, mesh, attn: str, dtype: torch.dtype, device: torch.device,
                  param_dtype: torch.dtype | None, checkpointing: bool, trains: bool = True) -> nn.Module:
    """A model of ``config`` sharded over ``mesh``, its shards read from ``folder`` (or left
    uninitialised when ``folder`` is None: fill them, e.g. with :func:`sharded_copy`)."""
    model = empty_model(config, attn, dtype)
    if checkpointing:
        enable_activation_checkpointing(model)
    apply_fsdp2(model, mesh, param_dtype=param_dtype, trains=trains)
    materialize(model, device)
    if folder is not None:
        read = load_shards(model, folder)
        log.info("read %.1f MB of %s's weights on this rank (its shards only)", read / 1e6, folder)
    return model


@torch.no_grad()
def sharded_copy(target: nn.Module, source: nn.Module) -> None:
    """Copy ``source``'s parameters into ``target``'s, shard to shard (same sharding)."""
    targets, sources = list(target.named_parameters()), list(source.named_parameters())
    if [n for n, _ in targets] != [n for n, _ in sources]:
        raise ValueError(f"cannot copy {type(source).__name__} into {type(target).__name__}: parameter names differ")
    for (name, t), (_, s) in zip(targets, sources):
        t_local = t.to_local() if hasattr(t, "to_local") else t
        s_local = s.to_local() if hasattr(s, "to_local") else s
        if t_local.shape != s_local.shape:
            raise ValueError(f"{name}: shard {tuple(t_local.shape)} vs source shard {tuple(s_local.shape)}")
        t_local.copy_(s_local)
