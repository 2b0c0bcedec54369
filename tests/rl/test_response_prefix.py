"""The answer turn opens with the task's response prefix ("<think>"): prompts end with it and
rewards judge it together with the generated text."""

import json

import lightning as L

from mist_pl.data.rl_prompts import RESPONSE_PREFIX_COLUMN, PromptDataModule
from mist_pl.models.chat import render_prompt
from mist_pl.models.factory import ModelConfig
from mist_pl.modules.grpo import GRPOModule
from mist_pl.modules.optim import OptimConfig
from mist_pl.rl.config import GRPOConfig
from mist_pl.rl.sampling import SamplingConfig
from mist_pl.tasks.rxn_naming import build_prompt

REACTIONS = [
    {"task": "rxn_naming", "reaction": "CC(=O)Cl.NCC>>CC(=O)NCC", "answer": "Acylation"},
    {"task": "rxn_naming", "reaction": "c1ccccc1Br.OB(O)c1ccccc1>>c1ccc(-c2ccccc2)cc1", "answer": "C-C Coupling"},
]


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def _data(tokenizer, path, **kw):
    dm = PromptDataModule(train_path=path, batch_size=2, shuffle=False, max_prompt_tokens=1024, **kw)
    dm.attach_tokenizer(tokenizer)
    dm.setup("fit")
    return dm


def test_task_prompts_end_with_the_response_prefix(tokenizer, tmp_path):
    dm = _data(tokenizer, _jsonl(tmp_path / "p.jsonl", REACTIONS + [{"prompt": "no task"}]))
    expected = tokenizer(render_prompt(tokenizer, build_prompt(REACTIONS[0]), None, "<think>"),
                         add_special_tokens=False).input_ids
    assert dm.dataset.prompt_ids[0] == expected
    assert tokenizer.decode(dm.dataset.prompt_ids[0]).endswith("<|im_start|>assistant\n<think>")
    assert [e[RESPONSE_PREFIX_COLUMN] for e in dm.dataset.examples] == ["<think>", "<think>", ""]
    assert not tokenizer.decode(dm.dataset.prompt_ids[2]).endswith("<think>")  # no task: no prefix


def test_explicit_response_prefix_overrides_the_task(tokenizer, tmp_path):
    dm = _data(tokenizer, _jsonl(tmp_path / "p.jsonl", REACTIONS), response_prefix="")
    assert tokenizer.decode(dm.dataset.prompt_ids[0]).endswith("<|im_start|>assistant\n")
    assert {e[RESPONSE_PREFIX_COLUMN] for e in dm.dataset.examples} == {""}


def test_grpo_rewards_see_the_prefix_and_the_generated_text(tmp_path):
    L.seed_everything(0, verbose=False)
    module = GRPOModule(
        lm=ModelConfig(),
        optim=OptimConfig(lr=1e-4, schedule="constant", weight_decay=0.0),
        grpo=GRPOConfig(prompts_per_round=2, num_generations=2, micro_batch_size=4, beta=0.0, reward_runner="thread"),
        sampling=SamplingConfig(max_new_tokens=4),
        rewards=[{"fn": "rl_rewards_fixtures.opens_with_think", "weight": 1.0}],
    )
    data = PromptDataModule(train_path=_jsonl(tmp_path / "p.jsonl", REACTIONS), batch_size=2, max_prompt_tokens=1024)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    trainer.fit(module, datamodule=data)
    assert float(trainer.callback_metrics["reward/mean"]) == 1.0
    assert all(row["completion"].startswith("<think>") for row in module.last_round)
