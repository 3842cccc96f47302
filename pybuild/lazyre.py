"""Regular expressions compiled on first use, not at import.

A command runs a handful of a module's patterns, often none; compiling every module-level
pattern at import costs each `pybuild` start a few milliseconds (issue 19). ``lazy(...)`` is
typed as the compiled pattern and behaves as one (attribute access compiles it once).
"""

from __future__ import annotations

import re
from typing import Any, cast


class _Lazy:
    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern: str, flags: int) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


def lazy(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, deferred until the pattern is first used."""
    return cast("re.Pattern[str]", _Lazy(pattern, flags))
