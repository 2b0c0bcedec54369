"""Plan a cluster run before submitting it: memory per GPU and time to the token budget.

``python -m mist_pl.plan --config conf/recipes/cpt_qwen2.5-3b.yaml --nodes 1 --gpus-per-node 8``

* :mod:`.dims`: model dimensions (a folder's config.json, a built-in table, the tiny preset)
* :mod:`.workload`: what a recipe runs per step (sequence length, micro batch, GRPO sizes)
* :mod:`.memory`: bytes per GPU under FSDP2 full sharding, component by component
* :mod:`.speed`: tokens/s at a stated MFU, and days for the recipe's token budget
* :mod:`.report`: the printed table
"""
