"""Latent-solvability diagnostics: will RL find anything to reinforce yet?

* SCS (:mod:`~mist_pl.diagnostics.scs`): canonical vs corrupted SMILES log-probs.
* CCS (:mod:`~mist_pl.diagnostics.ccs`): true vs corrupted chemical statements.
* LS_d (:mod:`~mist_pl.diagnostics.ls_logprob`): gold vs distractor answer log-probs, prior-corrected.
* LS_pass@k (:mod:`~mist_pl.diagnostics.ls_passk`): pass@k of sampling, k = 8.

The MiST paper and its reference code define no latent-solvability formula: LS_d and
LS_pass@k are labelled stand-ins. All log-prob diagnostics share the scoring core
(:mod:`~mist_pl.diagnostics.scoring`) and effect sizes
(:mod:`~mist_pl.diagnostics.effect_sizes`); :mod:`~mist_pl.diagnostics.suite` runs any
of them by name, for the CLI (``python -m mist_pl.diagnostics``) and the training
callback (:class:`mist_pl.callbacks.diagnostics.DiagnosticsCallback`).

Submodules are imported on use: importing this package stays cheap.
"""
