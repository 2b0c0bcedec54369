"""The paired interval for a change measured twice on the same examples."""

import pytest

from mist_pl.eval.stats import newcombe_interval, paired_interval, wilson_interval


def pairs(both: int, only_before: int, only_after: int, neither: int) -> tuple[list[bool], list[bool]]:
    before = [True] * both + [True] * only_before + [False] * only_after + [False] * neither
    after = [True] * both + [False] * only_before + [True] * only_after + [False] * neither
    return before, after


def test_no_change_is_centred_on_zero_and_narrower_than_unpaired():
    before, after = pairs(10, 0, 0, 40)
    lo, hi = paired_interval(before, after)
    assert lo == pytest.approx(-hi) and lo < 0 < hi
    unpaired = newcombe_interval(10, 50, 10, 50)
    assert hi - lo < (unpaired[1] - unpaired[0]) / 2  # the same 10 right both times is strong evidence


def test_a_clear_gain_excludes_zero_and_reversing_negates_it():
    before, after = pairs(10, 0, 15, 25)
    lo, hi = paired_interval(before, after)
    assert 0 < lo < 0.3 < hi < 1
    assert paired_interval(after, before) == pytest.approx((-hi, -lo))
    assert newcombe_interval(10, 50, 25, 50)[0] < lo  # pairing narrows the unpaired interval


def test_without_correlation_it_is_the_unpaired_interval():
    """With phi = 0 (the 2x2 table has an empty margin) the formula is Newcombe's
    independent-samples interval term by term."""
    before, after = [False] * 20, [True] * 5 + [False] * 15
    lo, hi = paired_interval(before, after)
    la, ua = wilson_interval(5, 20)
    lb, ub = wilson_interval(0, 20)
    assert lo == pytest.approx(0.25 - ((0.25 - la) ** 2 + ub ** 2) ** 0.5)
    assert hi == pytest.approx(0.25 + ((ua - 0.25) ** 2 + lb ** 2) ** 0.5)
    assert (lo, hi) == pytest.approx(newcombe_interval(0, 20, 5, 20))


def test_bad_input():
    assert paired_interval([], []) == (None, None)
    with pytest.raises(ValueError, match="one pair per example"):
        paired_interval([True], [True, False])
