"""Special tokens and the chat template shared by every tokenizer mist-pl trains with.

The chemistry tags must stay whole tokens: the SCS diagnostic and the span-aware data
pipeline find SMILES/CIF spans by these ids, and the reward parser by the answer tags.
"""

from __future__ import annotations

CHEM_SPECIAL_TOKENS = [
    "[START_SMILES]", "[END_SMILES]", "[START_CIF]", "[END_CIF]",
    "<think>", "</think>", "<answer>", "</answer>",
]

# Control tokens of the built-in tokenizer (ChatML, as in Qwen2 models).
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
CONTROL_TOKENS = [EOS_TOKEN, PAD_TOKEN, IM_START, IM_END]

# ChatML with {% generation %} markers so SFT can ask for the assistant-token mask
# (return_assistant_tokens_mask=True) and train on completions only.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
