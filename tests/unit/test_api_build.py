"""pybuild.writes_tar_to_stdout: which `-o` values put the image on standard output, so that a
caller (as bud does) sends progress and the image ID elsewhere."""

from __future__ import annotations

import pytest

import pybuild


@pytest.mark.parametrize("outputs, expected", [
    ((), False),
    (["-"], True),
    (["type=tar,dest=-"], True),
    (["type=tar,dest=out.tar"], False),
    (["type=local,dest=dir", "-"], True),
    (["type=local,dest=-"], False),
])
def test_which_outputs_write_to_stdout(outputs: list[str], expected: bool) -> None:
    assert pybuild.writes_tar_to_stdout(outputs) is expected


def test_a_bad_output_is_one_line() -> None:
    with pytest.raises(pybuild.ConfigError):
        pybuild.writes_tar_to_stdout(["type=nosuch,dest=x"])
