"""The proxy build args BuildKit gives every RUN with no ARG declaring them (its
builtinAllowedBuildArgs), matched in any case as BuildKit's EqualFold matches them: one list
for the graph's unused-arg warning, the evaluator and git's environment."""

from __future__ import annotations

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
_FOLDED = frozenset(name.lower() for name in PROXY_ARGS)


def is_proxy_arg(name: str) -> bool:
    """Whether ``--build-arg NAME`` is a proxy setting (``Https_Proxy`` too)."""
    return name.lower() in _FOLDED


__all__ = ["PROXY_ARGS", "is_proxy_arg"]
