from pathlib import Path

import pytest
import torch

from mist_pl.cli import main

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "conf" / "recipes").glob("grpo_*.yaml"))


def test_toy_config_trains_logs_samples_and_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["--config", str(ROOT / "conf/tiny/grpo_toy.yaml"), "--trainer.logger.init_args.save_dir=runs",
              "--trainer.enable_progress_bar=false"]
    cli = main(["fit", *common, "--trainer.max_steps=2"])
    assert cli.trainer.global_step == 2
    log_dir = Path(cli.trainer.logger.log_dir)
    ckpt = next((log_dir / "checkpoints").glob("*.ckpt"))
    assert cli.datamodule.state_dict()["consumed"] == 2 * 4  # two rounds of 4 prompts

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    events.Reload()
    assert "samples/text_summary" in events.Tags()["tensors"]
    table = events.Tensors("samples/text_summary")[0].tensor_proto.string_val[0].decode()
    assert table.startswith("| prompt | completion | reward | advantage | carbon&#95;reward |")
    assert "reward/mean" in events.Tags()["scalars"] and "train/kl" not in events.Tags()["scalars"]

    checkpoint = torch.load(ckpt, weights_only=True)
    assert checkpoint["hyper_parameters"]["grpo"]["num_generations"] == 8
    resumed = main(["fit", *common, "--trainer.max_steps=3", f"--ckpt_path={ckpt}"])
    assert resumed.trainer.global_step == 3
    assert resumed.datamodule.state_dict()["consumed"] == 3 * 4  # continued, not restarted


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_recipes_parse_with_g8_and_fsdp(recipe, tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")  # a stand-in model folder: parsing checks it exists
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(recipe), f"--model.init_args.lm.name_or_path={tmp_path}", "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    for expected in ("mist_pl.modules.grpo.GRPOModule", "mist_pl.data.rl_prompts.PromptDataModule", "ModelParallelStrategy",
                     "num_generations: 8", "temperature: 0.9", "max_new_tokens: 2048", "max_prompt_tokens: 256",
                     "precision: bf16-mixed", "attn_implementation: flash_attention_2"):
        assert expected in printed, expected
    assert len(RECIPES) >= 3
