"""SFT through the mixture data module: shards carry the loss mask (and text shards stay as
they were), shards and on-the-fly loading give the same batches, resume is exact."""

from __future__ import annotations

import pyarrow as pa
import pytest
import torch
from sft_helpers import sft_mixture

from mist_pl.data.config import load_mixture
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.docstore import ShardDocs
from mist_pl.data.prepare import prepare, source_fingerprint
from mist_pl.data.shards import SCHEMA

SEQ_LEN, BATCH = 256, 4


def batches(dm, n, consume=False):
    out = []
    for batch in dm.train_dataloader():
        if consume:
            dm.mark_consumed(batch)
        out.append(batch)
        if len(out) == n:
            return out
    return out


def assert_same(a_batches, b_batches):
    assert len(a_batches) == len(b_batches)
    for a, b in zip(a_batches, b_batches):
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key


@pytest.fixture
def mix(tmp_path, tokenizer_dir):
    mix = sft_mixture(tmp_path, tokenizer_dir, long_every=6)
    mix["output_dir"] = str(tmp_path / "prepared")
    mix["shard_records"] = 16
    return mix


@pytest.mark.parametrize("pack", [True, False], ids=["packed", "one-per-row"])
def test_prepared_shards_give_the_on_the_fly_batches(mix, tmp_path, pack):
    manifest = prepare(load_mixture(mix), workers=0, progress=False)
    kwargs = dict(seq_len=SEQ_LEN, batch_size=BATCH, val_fraction=0.1, pack=pack)
    from_shards = MixtureDataModule(mix, prepared_dir=str(tmp_path / "prepared"), **kwargs)
    on_the_fly = MixtureDataModule(mix, **kwargs)
    for dm in (from_shards, on_the_fly):
        dm.setup("fit")
    assert_same(batches(from_shards, 12), batches(on_the_fly, 12))
    assert_same(list(from_shards.val_dataloader()), list(on_the_fly.val_dataloader()))
    assert from_shards.overlong_counts["pairs"] == on_the_fly.overlong_counts["pairs"]
    assert from_shards.overlong_counts["pairs"].truncated > 0
    assert manifest["sources"]["pairs"]["totals"]["dropped"] == {"empty_field:question": 1, "missing_field:reply": 1}

    # Chat shards have the loss-mask column; text shards are written exactly as before.
    out = tmp_path / "prepared"
    chat_schema = pa.ipc.open_file(pa.memory_map(str(out / "pairs" / "shard-00000.arrow"))).schema
    text_schema = pa.ipc.open_file(pa.memory_map(str(out / "text" / "shard-00000.arrow"))).schema
    assert chat_schema.names == ["input_ids", "origin", "loss_mask"] and text_schema.equals(SCHEMA)
    text_docs = ShardDocs(sorted((out / "text").glob("*.arrow")))
    assert text_docs.loss_mask(0) is None  # shards without the column: every token is trained


def test_resume_continues_with_the_same_batches(mix):
    kwargs = dict(seq_len=SEQ_LEN, batch_size=BATCH, pack=True)
    reference = MixtureDataModule(mix, **kwargs)
    reference.setup("fit")
    expected = batches(reference, 9)

    first = MixtureDataModule(mix, **kwargs)
    first.setup("fit")
    seen = batches(first, 4, consume=True)
    state = first.state_dict()
    resumed = MixtureDataModule(mix, **kwargs)
    resumed.setup("fit")
    resumed.load_state_dict(state)
    assert_same(seen + batches(resumed, 5), expected)


def test_pack_and_chat_template_are_part_of_the_fingerprints(mix, tokenizer):
    fingerprints = {}
    for pack in (True, False):
        dm = MixtureDataModule(mix, seq_len=SEQ_LEN, batch_size=BATCH, pack=pack)
        dm.setup("fit")
        fingerprints[pack] = dm.fingerprint()
    assert fingerprints[True] != fingerprints[False]

    cfg = load_mixture(mix)
    chat, text = cfg.sources
    for spec, changes in ((chat, True), (text, False)):
        a = source_fingerprint(spec, cfg, "sha", tokenizer.chat_template)
        b = source_fingerprint(spec, cfg, "sha", "{{ messages }}")
        assert (a != b) == changes  # text shards do not depend on the chat template


def test_pack_false_cannot_split_documents(mix):
    with pytest.raises(ValueError, match="split_documents"):
        MixtureDataModule(mix, pack=False, split_documents=True)
