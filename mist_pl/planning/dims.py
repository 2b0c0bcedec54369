"""Model dimensions for planning, without building the model.

From a Hugging Face folder's ``config.json`` when there is one; else from the built-in
table below (the published configs of the models the recipes name); else the tiny preset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelDims:
    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool
    head_dim: int | None = None  # None: hidden // heads
    qkv_bias: bool = True  # Qwen2 has q/k/v biases; Llama (SmolLM2) has none

    @property
    def kv_dim(self) -> int:
        """Width of the keys (and of the values) of one token: kv_heads x head_dim."""
        return self.kv_heads * (self.head_dim or self.hidden // self.heads)

    @property
    def q_dim(self) -> int:
        return self.heads * (self.head_dim or self.hidden // self.heads)

    @property
    def layer_params(self) -> int:
        h, q, kv, i = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        attention = h * q + 2 * h * kv + q * h + ((q + 2 * kv) if self.qkv_bias else 0)
        return attention + 3 * h * i + 2 * h  # + SwiGLU MLP + two RMSNorm scales

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def params(self) -> int:
        """All parameters, a tied input/output embedding counted once."""
        head = 0 if self.tied else self.embedding_params
        return self.layers * self.layer_params + self.embedding_params + head + self.hidden


# Published Hugging Face configs (config.json of each model).
BUILTIN = {
    "qwen2.5-3b": ModelDims("Qwen2.5-3B", hidden=2048, layers=36, heads=16, kv_heads=2, intermediate=11008,
                            vocab=151936, tied=True),
    "qwen2.5-7b": ModelDims("Qwen2.5-7B", hidden=3584, layers=28, heads=28, kv_heads=4, intermediate=18944,
                            vocab=152064, tied=False),
    "smollm2-135m": ModelDims("SmolLM2-135M", hidden=576, layers=30, heads=9, kv_heads=3, intermediate=1536,
                              vocab=49152, tied=True, qkv_bias=False),
}


def from_config_json(path: Path) -> ModelDims:
    config = json.loads(Path(path).read_text())
    config = config.get("text_config", config)  # multimodal wrappers keep the LM's config inside
    return ModelDims(
        name=Path(path).parent.name,
        hidden=config["hidden_size"],
        layers=config["num_hidden_layers"],
        heads=config["num_attention_heads"],
        kv_heads=config.get("num_key_value_heads") or config["num_attention_heads"],
        intermediate=config["intermediate_size"],
        vocab=config["vocab_size"],
        tied=bool(config.get("tie_word_embeddings", False)),
        head_dim=config.get("head_dim"),
        qkv_bias=bool(config.get("attention_bias", config.get("model_type") == "qwen2")),
    )


def tiny_dims() -> ModelDims:
    """The embedded tiny preset with the vocabulary of the built-in tokenizer."""
    # Inside: the planner reads configs without the model stack (transformers), loaded only for the tiny preset.
    from mist_pl.models.tiny import TINY_PRESET
    from mist_pl.models.tokenizer import load_tokenizer

    vocab = -(-len(load_tokenizer("mist-chem")) // 64) * 64  # tiny_config pads to a multiple of 64
    p = TINY_PRESET
    return ModelDims("tiny", hidden=p["hidden_size"], layers=p["num_hidden_layers"], heads=p["num_attention_heads"],
                     kv_heads=p["num_key_value_heads"], intermediate=p["intermediate_size"], vocab=vocab,
                     tied=p["tie_word_embeddings"])


def builtin_for(text: str) -> ModelDims | None:
    """A built-in entry named in ``text`` (a path or file name): 'qwen2.5-3b', 'Qwen2.5-7B-Instruct',
    'grpo_rxn_naming_7b' (a bare 3b/7b means Qwen2.5, the family of the recipes)."""
    lowered = text.lower().replace("_", "-")
    for key in BUILTIN:
        if key in lowered:
            return BUILTIN[key]
    match = re.search(r"(?<![\d.])([37])b(?![a-z])", lowered)
    return BUILTIN[f"qwen2.5-{match[1]}b"] if match else None


def resolve_dims(name_or_path: str, hint: str = "", model: str | None = None) -> ModelDims:
    """Dimensions for ``lm.name_or_path``; ``model`` (a built-in key or a folder) overrides,
    ``hint`` (e.g. the recipe's file name) helps when the folder exists only on a cluster."""
    if model:
        folder = Path(model).expanduser()
        if (folder / "config.json").is_file():
            return from_config_json(folder / "config.json")
        if model.lower() in BUILTIN:
            return BUILTIN[model.lower()]
        raise ValueError(f"--model {model!r} is neither a model folder nor one of {sorted(BUILTIN)}")
    if name_or_path == "tiny":
        return tiny_dims()
    folder = Path(name_or_path).expanduser()
    if name_or_path == "smollm2-135m":
        return BUILTIN["smollm2-135m"]  # (+ 8 chemistry tokens, padded to 64: negligible)
    if (folder / "config.json").is_file():
        return from_config_json(folder / "config.json")
    found = builtin_for(name_or_path) or builtin_for(hint)
    if found is None:
        raise ValueError(
            f"cannot tell the model dimensions of lm.name_or_path={name_or_path!r} (no config.json there): "
            f"pass --model with a model folder or one of {sorted(BUILTIN)}"
        )
    return found
