"""Every cluster recipe parses and type-checks: ``cli.py fit --config <recipe>
--model.lm.name_or_path tiny --print_config`` (the tiny preset stands in for the 3B/7B
folders that exist only on a cluster)."""

from __future__ import annotations

import pytest
import yaml
from ops_helpers import REPO

from mist_pl.cli import main

RECIPES = sorted((REPO / "conf" / "recipes").glob("*.yaml"))


def test_there_are_recipes():
    assert RECIPES, "conf/recipes/*.yaml is empty"


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_recipe_validates(recipe, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", str(recipe), "--model.lm.name_or_path", "tiny", "--print_config"])
    captured = capsys.readouterr()
    assert stop.value.code in (0, None), captured.err[-3000:]
    config = yaml.safe_load(captured.out)
    assert config["model"]["init_args"]["lm"]["name_or_path"] == "tiny"
    assert config["trainer"]["max_steps"] > 0  # the planner's token budget needs it
    strategy = config["trainer"].get("strategy")
    # The sbatch templates set data_parallel_size for the job's GPUs: the recipes must use FSDP2.
    assert isinstance(strategy, dict) and strategy["class_path"].endswith("ModelParallelStrategy"), strategy
