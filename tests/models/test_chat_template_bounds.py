"""A tokenizer's chat template is code from the model folder: rendering it is time-bounded,
so a template with runaway loops fails naming the tokenizer instead of hanging the run."""

from __future__ import annotations

import threading
import time

import pytest

from mist_pl.data.tokenization import encode_chat
from mist_pl.models import chat
from mist_pl.models.chat import ChatTemplateTimeout, render_prompt

# 10^10 loop iterations: well over a minute without a bound.
RUNAWAY = ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
           "{% for m in messages %}{{ m['content'] }}{% endfor %}")


def finishes(call, within_s: float):
    """``call()``'s outcome ("ok" or the exception), or None if it is still running."""
    outcome = []

    def target():
        try:
            call()
            outcome.append("ok")
        except Exception as error:  # noqa: BLE001 - returned to the test
            outcome.append(error)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(within_s)
    return outcome[0] if outcome else None


@pytest.mark.parametrize("render", [
    lambda tok: render_prompt(tok, "hello"),
    lambda tok: encode_chat(tok, "hello", "world"),
], ids=["render_prompt", "encode_chat"])
def test_runaway_template_fails_in_bounded_time_naming_the_tokenizer(render, tokenizer, monkeypatch):
    monkeypatch.setattr(tokenizer, "chat_template", RUNAWAY)
    monkeypatch.setattr(chat, "RENDER_LIMIT_S", 0.5)
    start = time.monotonic()
    outcome = finishes(lambda: render(tokenizer), within_s=30)
    assert outcome is not None, "rendering the template still runs after 30 s"
    assert isinstance(outcome, ChatTemplateTimeout), outcome
    assert time.monotonic() - start < 10
    assert "chat template" in str(outcome) and tokenizer.name_or_path in str(outcome) and "0.5 s" in str(outcome)


def test_bounded_rendering_is_the_plain_rendering(tokenizer):
    expected = tokenizer.apply_chat_template([{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": "hello"}],
                                             tokenize=False, add_generation_prompt=True)
    assert render_prompt(tokenizer, "hello", system="be brief", response_prefix="<think>") == expected + "<think>"
