"""How pybuild talks to registries: the options a caller (or the CLI's flags) sets, the retry
policy, and the TLS context they make.

Apart from client.py because these are settings, read by the transports, the CLI and login
without any HTTP being sent; defaults come from pybuild.conf (pybuild/oci/limits.py).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import httpx

from pybuild.errors import RegistryError
from pybuild.events import EventCallback
from pybuild.oci import limits as limits_mod

CHUNKED_THRESHOLD = 32 << 20
CHUNK_SIZE = 16 << 20

__all__ = ["RegistryOptions", "RetryPolicy", "from_keywords", "CHUNKED_THRESHOLD", "CHUNK_SIZE"]


@dataclass
class RetryPolicy:
    """A few attempts within a bounded time; waits double from ``base_delay``."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_total: float = 90.0
    max_resumes: int = 5

    @classmethod
    def configured(cls) -> RetryPolicy:
        """The default, with ``retry``/``retry_delay`` from pybuild.conf or the environment."""
        conf = limits_mod.current().registry
        return cls().with_retries(conf.retry, conf.retry_delay)

    def with_retries(self, retries: int | None, delay: float | None) -> RetryPolicy:
        """buildah's --retry/--retry-delay: that many retries, a fixed delay between them;
        the time budget grows so that every retry asked for can happen."""
        from dataclasses import replace

        out = replace(self)
        if retries is not None:
            out.attempts = retries + 1
        if delay is not None:
            out.base_delay = out.max_delay = delay
        if retries is not None or delay is not None:
            out.max_total = self.max_total + out.attempts * out.max_delay
        return out


def _transfer_limits() -> limits_mod.TransferLimits:
    return limits_mod.current().registry


@dataclass
class RegistryOptions:
    """How to talk to registries; the CLI fills it from flags (--tls-verify, --creds...)."""

    tls_verify: bool | None = None  # None: verify, except loopback and insecure registries
    creds: str | None = None  # "USER[:PASS]"; overrides every auth file
    authfile: str | None = None
    cert_dir: str | None = None
    registries_conf: str | None = None
    on_event: EventCallback | None = None
    chunked_threshold: int = CHUNKED_THRESHOLD  # blobs larger than this upload with PATCH
    chunk_size: int = CHUNK_SIZE
    force_chunked: bool = False
    mount_from: dict[str, str] = field(default_factory=dict)  # digest -> repository to mount from
    retry: RetryPolicy = field(default_factory=RetryPolicy.configured)
    # time and size bounds (seconds, bytes); defaults from pybuild.conf, see pybuild/oci/limits.py
    connect_timeout: float = field(default_factory=lambda: _transfer_limits().connect_timeout)
    idle_timeout: float = field(default_factory=lambda: _transfer_limits().idle_timeout)
    blob_timeout: float = field(default_factory=lambda: _transfer_limits().blob_timeout)
    max_blob_size: int = field(default_factory=lambda: _transfer_limits().max_blob_size)
    user_agent: str = "pybuild"

    def http_timeout(self) -> httpx.Timeout:
        """Connect (with the TLS handshake) bounded by ``connect_timeout``; every wait for a
        byte to arrive or leave, or for a pooled connection, by ``idle_timeout``."""
        return httpx.Timeout(self.idle_timeout, connect=self.connect_timeout)


def _ssl_context(host: str, options: RegistryOptions, verify: bool) -> ssl.SSLContext:
    """System CAs plus *.crt from the cert dir; a *.cert/*.key pair as client certificate.

    Without verification the system CA bundle is not loaded at all: it would be unused,
    and loading it costs tens of milliseconds on every command."""
    if verify:
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    dirs = [options.cert_dir] if options.cert_dir else [
        os.path.join("/etc/containers/certs.d", host), os.path.join("/etc/docker/certs.d", host)]
    for d in dirs:
        if not d or not os.path.isdir(d):
            continue
        names = sorted(os.listdir(d))
        for name in names:
            path = os.path.join(d, name)
            try:
                if name.endswith(".crt"):
                    ctx.load_verify_locations(cafile=path)
                elif name.endswith(".cert"):
                    key = path[: -len(".cert")] + ".key"
                    if not os.path.exists(key):
                        raise RegistryError(f"client certificate {name} has no matching .key", where=d)
                    ctx.load_cert_chain(path, key)
            except (ssl.SSLError, OSError) as e:
                raise RegistryError(f"cannot load {name}: {e}", where=d) from None
        if options.cert_dir is None:
            break
    return ctx


def from_keywords(options: RegistryOptions | None, keywords: Mapping[str, Any]) -> RegistryOptions:
    """``options`` (default: the configured ones) with the keywords a caller or a command gave
    (``tls_verify=False``...), the caller's object left alone; names that are no option (a
    transport's own) pass by. ``retry`` is a RetryPolicy, or buildah's --retry count, and
    ``retry_delay`` --retry-delay's duration ("2s"): a fixed delay between those retries."""
    known = {f.name for f in fields(RegistryOptions)}
    changes = {k: v for k, v in keywords.items() if v is not None and k in known}
    retry, delay = changes.pop("retry", None), keywords.get("retry_delay")
    if delay is not None:
        from pybuild.oci.limits import parse_duration

        delay = parse_duration(delay, "--retry-delay") if isinstance(delay, str) else float(delay)
    if isinstance(retry, RetryPolicy):
        changes["retry"] = retry.with_retries(None, delay) if delay is not None else retry
    elif retry is not None or delay is not None:
        changes["retry"] = RetryPolicy.configured().with_retries(retry, delay)
    return replace(options or RegistryOptions(), **changes)
