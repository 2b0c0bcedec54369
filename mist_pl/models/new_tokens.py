"""Embedding rows for tokens added to a pretrained vocabulary, initialised from their text.

Why not the usual mean of all embeddings (``resize_token_embeddings(mean_resizing=True)``):
every new row then holds the same vector. With tied input/output embeddings (SmolLM2,
Qwen2.5-0.5B/3B) a model can no longer tell ``<answer>`` from ``</think>`` in its input,
and on output the logit of a new tag is ``h . mean(E)``, so its probability stays near
``1 / V``: measured on SmolLM2-135M, the log-prob of ``<answer>`` where the prompt asks for
it was -19. RL from such a model never sees a closed answer, so it never sees a reward.

Here each added token's row is the mean of the rows of the pieces its own text splits into
under the pretrained vocabulary (``<answer>`` -> ``<``, ``answer``, ``>``). Input rows
average input pieces and, for untied heads, output rows average output pieces. The token
then starts out meaning roughly what its text meant, and its logit is the average of its
pieces' logits, which is high wherever the text was likely.

Tokens whose text cannot be split (no fast backend, or only unknown pieces) keep the
global-mean row they got from resizing, and are named in a warning.
"""

from __future__ import annotations

import logging

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

# Rows are padded to a multiple of this (tensor-core friendly); the padding rows are never
# produced by the tokenizer and keep the global mean.
EMBEDDING_ROW_MULTIPLE = 64


def text_piece_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Ids of the pieces ``text`` splits into under the tokenizer's *trained* vocabulary,
    ignoring tokens added on top of it (which would return the added token itself).

    Runs the fast backend's normalizer, pre-tokenizer and model directly; an empty list
    when the tokenizer has no fast backend or the text yields no piece.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return []
    normalized = backend.normalizer.normalize_str(text) if backend.normalizer is not None else text
    if backend.pre_tokenizer is not None:
        pieces = [piece for piece, _ in backend.pre_tokenizer.pre_tokenize_str(normalized)]
    else:
        pieces = [normalized]
    return [token.id for piece in pieces for token in backend.model.tokenize(piece)]


@torch.no_grad()
def resize_for_added_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """Grow the embeddings to the tokenizer's size; initialise each added token's rows from
    its text's pieces (see the module docstring). Returns the tokens so initialised."""
    old_rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) <= old_rows:
        return []
    # mean_resizing gives the padding rows (and any token without pieces) the global mean.
    model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=EMBEDDING_ROW_MULTIPLE, mean_resizing=True)
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    untied_outputs = None if outputs is None or outputs.weight is inputs else outputs.weight
    done, missing = [], []
    for token_id in range(old_rows, len(tokenizer)):
        text = str(tokenizer.convert_ids_to_tokens(token_id))
        # The unknown token says nothing about the text: a tag that splits into unknowns
        # keeps the global mean.
        pieces = [i for i in text_piece_ids(tokenizer, text) if i < old_rows and i != tokenizer.unk_token_id]
        if not pieces:
            missing.append(text)
            continue
        index = torch.tensor(pieces, device=inputs.device)
        inputs[token_id] = inputs[index].mean(0)
        if untied_outputs is not None:
            untied_outputs[token_id] = untied_outputs[index].mean(0)
        done.append(text)
    if missing:
        log.warning("added tokens %s could not be split into pretrained pieces; they start at the mean embedding", missing)
    return done
