"""pybuild's errors as a user reads them: one line, what and where."""

from __future__ import annotations

from pybuild.errors import ImageNotFound, StepFailed


def test_located_moves_the_old_place_into_the_text_on_a_copy() -> None:
    original = StepFailed("exit status 3", where="/ctx/run.sh", status=3)
    said = original.located("Containerfile:4")
    assert str(said) == "Containerfile:4: /ctx/run.sh: exit status 3"
    assert type(said) is StepFailed and said.status == 3  # the class and its facts are kept
    assert str(original) == "/ctx/run.sh: exit status 3"  # the error as raised is untouched
    assert str(ImageNotFound("no such image").located("Cf:1")) == "Cf:1: no such image"
