"""The runtime core: running configured and task-supplied code safely. No chemistry.

* ``protocol``: the reward protocol every task follows (``fn(completions, **columns)
  -> list[float | None]``), :func:`~mist_pl.runtime.protocol.per_example` and
  :func:`~mist_pl.runtime.protocol.weighted_total`.
* ``imports``: :func:`~mist_pl.runtime.imports.import_object`, the one way a config
  names code (dotted module paths only).
* ``workers``: a killable process pool and a thread runner with per-call deadlines.
* ``safety``: :func:`~mist_pl.runtime.safety.safe_reward_call`, a reward call whose
  programming errors fail loudly and whose per-completion failures and timeouts cost
  only those completions their reward.

This layer sits below ``tasks/`` (which writes rewards to the protocol) and ``rl/``
and ``data/`` (which call them and resolve import paths); it imports nothing
first-party, so a reward worker process starts without RDKit, pymatgen or torch.
"""
