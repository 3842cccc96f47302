"""One Go duration grammar and one HEALTHCHECK object for the Containerfile and the buildah
verbs (`config --healthcheck-interval`): the same text gives the same value in both."""

from __future__ import annotations

import pytest

from pybuild.builder import workflow
from pybuild.builder.containerfile import instructions
from pybuild.builder.containerfile.golang import go_quote, parse_duration
from pybuild.errors import ConfigError
from pybuild.oci.spec import healthcheck


@pytest.mark.parametrize("text, ns", [("30s", 30 * 10**9), ("1m30s", 90 * 10**9), ("1.5h", 5400 * 10**9),
                                      (".5s", 5 * 10**8), ("300ms", 3 * 10**8), ("0", 0), ("2us", 2000)])
def test_one_duration_grammar(text: str, ns: int) -> None:
    assert parse_duration(text) == ns
    assert instructions.parse_duration(text) == ns
    assert workflow._duration(text, "--healthcheck-interval") == ns  # config's flags read as Go reads them


@pytest.mark.parametrize("text", ["5", "s", "1x", "", "1..5s"])
def test_a_bad_duration_is_one_line_naming_the_flag(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
    with pytest.raises(ConfigError) as e:
        workflow._duration(text, "--healthcheck-timeout")
    assert "--healthcheck-timeout" in str(e.value) and "\n" not in str(e.value)


def test_go_quote() -> None:
    assert go_quote('a "b"\n\x01é') == '"a \\"b\\"\\n\\x01é"'


def test_one_healthcheck_object() -> None:
    assert healthcheck(None) == {"Test": ["NONE"]}
    assert healthcheck(["CMD", "x"], interval=5, retries=None) == {"Test": ["CMD", "x"], "Interval": 5}
    base = {"Test": ["CMD-SHELL", "probe"], "Timeout": 7}
    edited = healthcheck(None, base=base, interval=1, retries=0)
    assert edited == {"Test": ["CMD-SHELL", "probe"], "Timeout": 7, "Interval": 1, "Retries": 0}
    assert base == {"Test": ["CMD-SHELL", "probe"], "Timeout": 7}  # a copy is edited
