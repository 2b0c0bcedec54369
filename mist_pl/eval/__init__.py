"""Task evaluation: greedy top-1 and unbiased pass@k (``python -m mist_pl.eval``).

:mod:`~mist_pl.eval.evaluate` runs one task (``protocol`` ``default``, or ``mist``: the MiST
reference's reaction-naming evaluation, :mod:`~mist_pl.eval.mist_protocol`),
:mod:`~mist_pl.eval.stats` holds the pass@k estimator and the 95% intervals,
:mod:`~mist_pl.eval.generation` samples with the RL stage's KV-cached
sampler, :mod:`~mist_pl.eval.loading` loads presets, folders and Lightning checkpoints.
"""
