"""Tokenizers: the built-in chemistry BPE and any local Hugging Face tokenizer folder.

``mist-chem`` is a byte-level BPE trained on the offline corpus in
:mod:`mist_pl.models.tokenizer_corpus`. It is built on first use and cached under a
folder named by a hash of its inputs, so the same packages always give the same
vocabulary and a changed corpus gives a new folder instead of a stale one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from mist_pl.models.special_tokens import (
    CHAT_TEMPLATE,
    CHEM_SPECIAL_TOKENS,
    CONTROL_TOKENS,
    EOS_TOKEN,
    PAD_TOKEN,
)
from mist_pl.models.tokenizer_corpus import iter_corpus
from mist_pl.paths import cache_dir

log = logging.getLogger(__name__)

BUILTIN_TOKENIZERS = {"mist-chem": 4096}
_FORMAT_VERSION = "1"  # bump when build_chem_tokenizer changes what it produces


def build_chem_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts``; chemistry tags are added tokens, never split.

    Byte-level BPE decodes every string back exactly (no unknown token), which keeps
    SMILES and CIF text lossless. The tags are added as non-special tokens so that
    ``decode(skip_special_tokens=True)`` drops only the control tokens and keeps
    ``<answer>`` or ``[START_SMILES]`` in model output.
    """
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=CONTROL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in CHEM_SPECIAL_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
        model_max_length=1_000_000,
    )


def _builtin_tokenizer(name: str) -> PreTrainedTokenizerFast:
    vocab_size = BUILTIN_TOKENIZERS[name]
    texts = list(iter_corpus())
    digest = hashlib.sha256()
    for part in (_FORMAT_VERSION, tokenizers.__version__, str(vocab_size), *texts):
        digest.update(part.encode())
        digest.update(b"\0")
    folder = cache_dir("tokenizers") / f"{name}-{digest.hexdigest()[:16]}"
    if not (folder / "tokenizer.json").exists():
        log.info("building tokenizer %s from %d texts into %s", name, len(texts), folder)
        tokenizer = build_chem_tokenizer(texts, vocab_size)
        # Write beside the target and rename, so concurrent ranks never see half a folder.
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first; its folder is identical
            shutil.rmtree(tmp, ignore_errors=True)
    return PreTrainedTokenizerFast.from_pretrained(folder)


def ensure_chem_tokens(tokenizer: PreTrainedTokenizerBase) -> int:
    """Add the chemistry tags a foreign tokenizer lacks; returns how many were added."""
    missing = [t for t in CHEM_SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in missing])
    return len(missing)


# Classes that mean "exactly what tokenizer.json says" (what our own tokenizer saves as).
_GENERIC_CLASSES = {"TokenizersBackend", "PreTrainedTokenizerFast"}


def _load_folder(path: Path) -> PreTrainedTokenizerBase:
    """Load a folder's tokenizer as it was saved.

    AutoTokenizer picks the class from the model's config.json when there is one, and
    transformers 5 model-specific classes rebuild their own pre-tokenizer: the built-in
    tokenizer saved next to a Qwen2 model would come back as Qwen2Tokenizer and split
    SMILES differently. A generically saved tokenizer is therefore loaded generically.
    """
    config_file = path / "tokenizer_config.json"
    if (path / "tokenizer.json").is_file() and config_file.is_file():
        if json.loads(config_file.read_text()).get("tokenizer_class") in _GENERIC_CLASSES:
            return PreTrainedTokenizerFast.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path, trust_remote_code=False)


def load_tokenizer(name_or_path: str, add_chem_tokens: bool = False) -> PreTrainedTokenizerBase:
    """Load a built-in tokenizer by name or a tokenizer from a local folder.

    A folder tokenizer gets a pad token (its EOS) when it has none. Its chemistry tags stay
    text unless ``add_chem_tokens`` (then the model's embeddings must be resized to match:
    :func:`mist_pl.models.new_tokens.resize_for_added_tokens`).
    """
    if name_or_path in BUILTIN_TOKENIZERS:
        return _builtin_tokenizer(name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        raise ValueError(
            f"tokenizer={name_or_path!r} is neither a built-in tokenizer "
            f"({', '.join(BUILTIN_TOKENIZERS)}) nor an existing local folder"
        )
    tokenizer = _load_folder(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if add_chem_tokens:
        ensure_chem_tokens(tokenizer)
    return tokenizer
