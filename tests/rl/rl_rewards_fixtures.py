"""Reward functions used by test_rewards.py, importable by path like any configured reward."""

import time


def length_reward(completions, **columns):
    return [float(len(c)) for c in completions]


def wrong_length(completions, **columns):
    return [1.0]


def explodes_on_x(completions, **columns):
    if any("x" in c for c in completions):
        raise RuntimeError("cannot parse")
    return [1.0 for _ in completions]


def slow_on_z(completions, **columns):
    if any("z" in c for c in completions):
        time.sleep(3)
    return [2.0 for _ in completions]


def skips_second(completions, answer, **columns):
    return [None if a == "skip" else 0.5 for a in answer]


not_callable = 3


def constant_for_first_prompt(completions, prompt, **columns):
    """Same reward for every completion of prompts mentioning "first": a zero-variance group."""
    return [1.0 if "first" in p else float(len(c) % 7) for c, p in zip(completions, prompt)]


def opens_with_think(completions, **columns):
    """1.0 when the judged text starts inside a reasoning block (the response prefix)."""
    return [1.0 if c.startswith("<think>") else 0.0 for c in completions]
