"""The base of small value classes that would be dataclasses: equality, hash and repr over the
attributes a class lists in ``_FIELDS``, as ``@dataclass`` generates them. Making a dataclass
costs ~0.3-1 ms at import, and every build imports the image config and sandbox types that
use this instead (issue 19)."""

from __future__ import annotations

from typing import Any


class Value:
    """Compared, hashed and printed by ``_FIELDS`` (a mutable subclass sets ``__hash__ = None``)."""

    __slots__ = ()
    _FIELDS: tuple[str, ...] = ()

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        return self._fields() == other._fields() if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._FIELDS)})"


__all__ = ["Value"]
