"""``OptimConfig`` refuses settings that would train wrongly, naming the field and value."""

import re

import pytest

from mist_pl.modules.optim import OptimConfig


@pytest.mark.parametrize("kwargs, named", [
    ({"warmup_steps": -5}, "optim.warmup_steps=-5"),
    ({"weight_decay": -0.1}, "optim.weight_decay=-0.1"),
    ({"eps": 0.0}, "optim.eps=0.0"),
    ({"betas": (0.9, 1.0)}, "optim.betas=(0.9, 1.0)"),
])
def test_bad_values_name_the_field(kwargs, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        OptimConfig(**kwargs)
