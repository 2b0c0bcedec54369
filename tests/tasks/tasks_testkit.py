"""Helpers for the task tests, in a light module (no chemistry imports).

The module-level reward functions are for the safety tests: a spawned worker process
imports them by reference, quickly. The file has a distinctive name because pytest puts
this folder on sys.path and test helpers are imported by module name.
"""

import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def demo_root() -> Path:
    """The mist-demo fixture folder shipped in the package (never a folder beside the repository)."""
    from mist_pl.shipped import MIST_DEMO

    assert (MIST_DEMO / "reactions").is_dir(), f"the package's mist-demo fixtures are missing: {MIST_DEMO}"
    return MIST_DEMO


def completion(answer, think="reasoning"):
    return f"<think>{think}</think><answer>{answer}</answer>"


def constant_reward(completions, **columns):
    return [0.5 for _ in completions]


def wrong_length_reward(completions, **columns):
    return [1.0]


def not_a_list_reward(completions, **columns):
    return 1.0


def string_values_reward(completions, **columns):
    return ["good" for _ in completions]


def raises_on_boom(completions, **columns):
    """Fails on any completion containing 'boom'; scores the others by their gold column."""
    if any("boom" in c for c in completions):
        raise RuntimeError("boom")
    return [float(a) for a in columns["answer"]]


def hangs_on_hang(completions, **columns):
    """Busy-loops (never returns in time) on completions containing 'hang'."""
    if any("hang" in c for c in completions):
        end = time.monotonic() + 60
        while time.monotonic() < end:
            pass
    return [1.0 for _ in completions]


def sleeps_on_hang(completions, **columns):
    """Sleeps 60 s on completions containing 'hang' (a stuck call that holds no CPU,
    so abandoned threads do not slow the rest of the test session)."""
    if any("hang" in c for c in completions):
        time.sleep(60)
    return [1.0 for _ in completions]


def skips_and_nans(completions, **columns):
    return [None if c == "skip" else float("nan") if c == "nan" else 1.0 for c in completions]
