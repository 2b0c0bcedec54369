"""Tokenizers: the built-in chemistry BPE and any local Hugging Face tokenizer folder.

``mist-chem`` is a byte-level BPE trained on the offline corpus in
:mod:`mist_pl.models.tokenizer_corpus`. It is built on first use and cached under a
folder named by a hash of its inputs, so the same packages always give the same
vocabulary and a changed corpus gives a new folder instead of a stale one.

It splits text exactly as transformers' ``Qwen2Tokenizer`` does (NFC, Qwen2's
pre-tokenization pattern, byte-level without its own regex). The embedded tiny model is a
Qwen2 model, and ``AutoTokenizer.from_pretrained`` on a folder with a Qwen2 config builds
``Qwen2Tokenizer`` from the vocabulary and merges, with Qwen2's own splitting, whatever
``tokenizer.json`` says: an exported model would otherwise see other ids in every tool
that loads it than the ones it was trained on (digits were split differently: 30 tokens
instead of 27 for a short reaction). :func:`mist_pl.export.export` checks the agreement on
every export.
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
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
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
_FORMAT_VERSION = "2"  # bump when build_chem_tokenizer changes what it produces
# Qwen2's pre-tokenization pattern (transformers' Qwen2Tokenizer.PRETOKENIZE_REGEX): one
# digit per piece, letters with one leading non-letter, punctuation runs, whitespace.
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


def build_chem_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts``; chemistry tags are added tokens, never split.

    Byte-level BPE decodes every string back exactly (no unknown token), which keeps
    SMILES and CIF text lossless. The tags are added as non-special tokens so that
    ``decode(skip_special_tokens=True)`` drops only the control tokens and keeps
    ``<answer>`` or ``[START_SMILES]`` in model output. Normalizer and pre-tokenizer are
    Qwen2Tokenizer's (see the module docstring), so the folder reads the same everywhere.
    """
    core = Tokenizer(models.BPE())
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
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
    for part in (_FORMAT_VERSION, tokenizers.__version__, str(vocab_size), QWEN2_PRETOKENIZE_REGEX, *texts):
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


# Texts whose ids an exported folder must reproduce: digits and ring closures, tags,
# SMILES and CIF pieces, non-ASCII text, runs of whitespace and newlines, control tokens.
ROUNDTRIP_PROBES = (
    "CC(=O)Cl.NCC>>CC(=O)NCC <think>12 carbons 345</think><answer>Acylation</answer>",
    "[START_SMILES]C1=CC=C(C=C1)C(=O)O[END_SMILES] and [START_SMILES]c1ccc2c(c1)[nH]c1ccccc12[END_SMILES]",
    "[START_CIF]data_NaCl\n_cell_length_a 5.6402\n_symmetry_space_group_name_H-M 'F m -3 m'\n[END_CIF]",
    "Na Na Cl Cl <sg225>  Sr Ti O O O <sg221>\n\n\ttabs, 2,3-dimethylbut-2-ene; 10.5 kJ/mol",
    "Ünïcödé: café, naïve, Å, µm, 1\u00a0000 and \u2212 signs; fullwidth ＡＢＣ; e\u0301 (combining)",
    "<|im_start|>user\nName it.<|im_end|>\n<|im_start|>assistant\n<think>",
)


class TokenizerMismatch(ValueError):
    """A saved tokenizer folder does not tokenize like the tokenizer that wrote it."""


def check_saved_tokenizer(folder: str | Path, tokenizer: PreTrainedTokenizerBase, texts=ROUNDTRIP_PROBES) -> None:
    """Load ``folder`` the way other tools do (``AutoTokenizer.from_pretrained``, no
    mist-pl code, no remote code) and raise :class:`TokenizerMismatch` unless it gives
    ``tokenizer``'s ids for every text and for a rendered chat."""
    loaded = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    for text in texts:
        ours = tokenizer(text, add_special_tokens=False)["input_ids"]
        theirs = loaded(text, add_special_tokens=False)["input_ids"]
        if ours != theirs:
            raise TokenizerMismatch(
                f"{folder}: AutoTokenizer loads it as {type(loaded).__name__}, which tokenizes {text[:60]!r} into "
                f"{len(theirs)} tokens, not the {len(ours)} the model was trained on ({type(tokenizer).__name__}); "
                "a model served from this folder would see other ids than it learned"
            )
    if tokenizer.chat_template:
        messages = [{"role": "user", "content": texts[0]}, {"role": "assistant", "content": "<think>x</think>"}]
        ours = tokenizer.apply_chat_template(messages, tokenize=False)
        theirs = loaded.apply_chat_template(messages, tokenize=False) if loaded.chat_template else None
        if ours != theirs:
            raise TokenizerMismatch(f"{folder}: the saved chat template renders differently ({theirs!r} vs {ours!r})")

