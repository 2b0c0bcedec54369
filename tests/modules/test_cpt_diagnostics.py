"""The diagnostics callback inside a real CPT fit of CausalLMModule (the model is built in
configure_model, so the callback must find it only once fit has started)."""

import json

import lightning as L
from cpt_helpers import RecordLosses, quiet_trainer

from mist_pl.callbacks.diagnostics import DiagnosticsCallback
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.modules.causal_lm import CausalLMModule
from mist_pl.modules.optim import OptimConfig


def test_scs_during_cpt_writes_each_run_and_training_goes_on(tmp_path, mix_file):
    L.seed_everything(0, verbose=False)
    module = CausalLMModule(optim=OptimConfig(lr=3e-3, schedule="constant"))
    data = MixtureDataModule(str(mix_file), seq_len=64, batch_size=2)
    out = tmp_path / "diag"
    record = RecordLosses()
    callback = DiagnosticsCallback("scs", every_n_steps=3, at_start=True, limit=6, out_dir=str(out))
    trainer = quiet_trainer(tmp_path, max_steps=6, callbacks=[record, callback])
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == 6 and len(record.losses) == 6
    assert sorted(p.name for p in out.iterdir()) == ["step-000000", "step-000003", "step-000006"]
    before = json.loads((out / "step-000000" / "scs_summary.json").read_text())
    after = json.loads((out / "step-000006" / "scs_summary.json").read_text())
    assert before["counts"]["read"] == after["counts"]["read"] == 6
    assert module.model.training
