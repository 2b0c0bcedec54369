"""Reward ``fn`` and ``data.examples_fn`` are imported and called: only dotted module paths
are accepted, and anything else (a file path, empty parts) fails before anything is imported."""

from __future__ import annotations

import pytest

from mist_pl.runtime.imports import import_object

M = "rl_rewards_fixtures"


@pytest.mark.parametrize("path", [
    "/tmp/rewards.py:length_reward",  # file paths
    "./rewards.py",
    "rewards.py",
    "rewards/length.py:length_reward",
    "rewards.py:length_reward",
    "C:\\rewards.py:fn",
    f".{M}.length_reward",  # empty or odd parts
    f"{M}..length_reward",
    f"{M}.length_reward.",
    f"{M}:",
    ":length_reward",
    f"{M}:length_reward.__call__",
    f"{M}::length_reward",
    "rl rewards.length_reward",
    "rl-rewards.length_reward",
    "justaname",
    "",
    None,
    3,
])
def test_anything_but_a_dotted_module_path_is_refused_naming_it(path):
    with pytest.raises(ValueError, match="not an import path") as error:
        import_object(path)
    assert repr(path) in str(error.value)


def test_a_file_name_is_refused_before_its_module_is_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "my_rewards.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef fn(c, **k): return [0.0]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"'my_rewards.py:fn'.*file"):
        import_object("my_rewards.py:fn")
    assert not marker.exists()


def test_the_message_names_the_setting():
    with pytest.raises(ValueError, match=r"^data.examples_fn='a/b.py:f' is not"):
        import_object("a/b.py:f", what="data.examples_fn")


def test_dotted_and_colon_paths_still_resolve():
    assert import_object(f"{M}.length_reward")(["ab"]) == [2.0]
    assert import_object(f"{M}:length_reward")(["abc"]) == [3.0]
    assert import_object("mist_pl.tasks.answer:format_reward") is import_object("mist_pl.tasks.answer.format_reward")


def test_import_path_of_names_the_module_attribute():
    """A wrapped reward shares its __qualname__ with the scoring function it wraps; its
    import path is the name its module binds it to, which import_object resolves back."""
    from mist_pl.runtime.imports import import_path_of
    from mist_pl.tasks import rxn_naming

    path = import_path_of(rxn_naming.rxn_naming_reward)
    assert path == "mist_pl.tasks.rxn_naming.rxn_naming_reward"
    assert import_object(path) is rxn_naming.rxn_naming_reward
    with pytest.raises(ValueError, match="no import path"):
        import_path_of(lambda completions: [])
