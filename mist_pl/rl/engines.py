"""``sampling.engine`` -> the sampler that implements it.

The one place that knows every engine: ``hf`` (:class:`~mist_pl.rl.sampling.HFSampler`,
the policy's own forward) and ``vllm`` (:class:`~mist_pl.rl.vllm_engine.VLLMSampler`,
an in-process vLLM engine). Building the ``vllm`` sampler fails at once, naming the
field and the extra to install, when vLLM is missing; vLLM itself is imported only when
its engine starts, so ``import mist_pl`` never needs it.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from mist_pl.rl.sampling import HFSampler, Sampler, SamplingConfig
from mist_pl.rl.vllm_engine import VLLMSampler


def build_sampler(config: SamplingConfig, tokenizer: PreTrainedTokenizerBase) -> Sampler:
    if config.engine == "vllm":
        return VLLMSampler(config, tokenizer)
    return HFSampler(config, tokenizer)
