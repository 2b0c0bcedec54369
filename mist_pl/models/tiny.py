"""The embedded tiny default: a Qwen2-architecture model of a few million parameters.

Same architecture family as the Qwen2.5-3B/7B recipes (GQA, RoPE, SwiGLU, RMSNorm,
qkv bias), so the tiny path runs the exact code the cluster path runs, only smaller.
It starts from random weights: it exists to make the pipeline fast on a laptop.
"""

from __future__ import annotations

from transformers import Qwen2Config

TINY_PRESET = dict(
    hidden_size=256,
    intermediate_size=768,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    rope_theta=10_000.0,
    tie_word_embeddings=True,
)


def tiny_config(vocab_size: int, eos_token_id: int, pad_token_id: int, **overrides) -> Qwen2Config:
    # Round the embedding table up to a multiple of 64: faster matmuls, room for added tokens.
    padded_vocab = -(-vocab_size // 64) * 64
    return Qwen2Config(
        vocab_size=padded_vocab,
        eos_token_id=eos_token_id,
        bos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        **{**TINY_PRESET, **overrides},
    )
