"""The cluster recipes parse, and their max_steps spend the paper's token budgets."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mist_pl.cli import main

ROOT = Path(__file__).resolve().parents[2]
BUDGETS = {"cpt": 2.9e9, "sft": 1.0e9}  # MiST paper: CPT 2.9B tokens, SFT 1B tokens
RECIPES = sorted(p for stage in BUDGETS for p in (ROOT / "conf" / "recipes").glob(f"{stage}_*.yaml"))


def printed_config(recipe: Path, capsys) -> dict:
    # The placeholder model folder does not exist here: the tiny preset stands in for it.
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(recipe), "--model.init_args.lm.name_or_path=tiny", "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def test_four_recipes_exist():
    assert {p.name for p in RECIPES} == {
        "cpt_qwen2.5-3b.yaml", "cpt_qwen2.5-7b.yaml", "sft_qwen2.5-3b.yaml", "sft_qwen2.5-7b.yaml"}


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_recipe_parses_with_fsdp_bf16_and_checkpointing(recipe, capsys):
    config = printed_config(recipe, capsys)
    trainer, model, data = config["trainer"], config["model"], config["data"]
    stage = recipe.stem.split("_")[0]
    assert model["class_path"] == {"cpt": "mist_pl.modules.causal_lm.CausalLMModule",
                                   "sft": "mist_pl.modules.sft.SFTModule"}[stage]
    assert data["class_path"] == "mist_pl.data.datamodule.MixtureDataModule"
    assert trainer["strategy"]["class_path"].endswith("ModelParallelStrategy")
    assert trainer["strategy"]["init_args"]["data_parallel_size"] == trainer["devices"] * trainer["num_nodes"]
    assert trainer["precision"] == "bf16-mixed"
    lm = model["init_args"]["lm"]
    assert lm["attn_implementation"] == "auto" and lm["gradient_checkpointing"] is True
    assert lm["name_or_path"] == "tiny"  # the override won over the placeholder

    # tokens per optimizer step = seq_len x micro batch x grad accumulation x data-parallel ranks
    per_step = (data["init_args"]["seq_len"] * data["init_args"]["batch_size"]
                * trainer["accumulate_grad_batches"] * trainer["strategy"]["init_args"]["data_parallel_size"])
    assert trainer["max_steps"] == math.ceil(BUDGETS[stage] / per_step)
    # The derivation written in the recipe's comments is the one that holds.
    assert f"max_steps = ceil({BUDGETS[stage]:.1e}".replace("e+09", "e9") in recipe.read_text()
    assert f"= {per_step:,}" in recipe.read_text()


def test_recipe_through_the_cli_script():
    """What a user types: ``python cli.py fit --config <recipe> ... --print_config``."""
    recipe = ROOT / "conf" / "recipes" / "cpt_qwen2.5-3b.yaml"
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "fit", "--config", str(recipe),
                             "--model.lm.name_or_path", "tiny", "--print_config"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert yaml.safe_load(result.stdout)["trainer"]["max_steps"] == 5532


def test_placeholder_model_folder_fails_naming_it(tmp_path):
    """Run as is (no --print_config, which skips validation), the placeholder is named."""
    recipe = ROOT / "conf" / "recipes" / "sft_qwen2.5-7b.yaml"
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "fit", "--config", str(recipe)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode != 0
    assert "name_or_path='/models/qwen2.5-7b-mist-cpt'" in result.stderr
