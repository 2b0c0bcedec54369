"""Task evaluation: greedy top-1 and unbiased pass@k (``python -m mist_pl.eval``).

:mod:`~mist_pl.eval.evaluate` runs one task, :mod:`~mist_pl.eval.pass_at_k` holds the
estimator, :mod:`~mist_pl.eval.generation` samples with the RL stage's KV-cached
sampler, :mod:`~mist_pl.eval.loading` loads presets, folders and Lightning checkpoints.
"""
