"""A cold local build loads only what building needs (issue 19: the fixed cost of a small build).

`bud --no-cache` of a COPY and a RUN on an unpacked base writes layers and runs a step:
it reads no layer (no unpacker, no decompression bounds, no pybuild.conf reader), speaks
to no registry, loads no crypto, runs no helper process to find a library (ldconfig) and
opens no socket module for a step that joins the build's network. Checked with `python
-X importtime`, the names of what the run really loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.bud_helpers import context, make_store
from tests.integration.test_command_imports import imported, loaded

NOT_ON_A_COLD_LOCAL_BUILD = ("httpx", "h11", "ssl", "zstandard", "cryptography", "pybuild.oci.registry",
                             "pybuild.oci.tarapply", "pybuild.oci.limits", "tomllib", "subprocess",
                             "ctypes.util", "concurrent.futures", "pybuild.builder.cache_remote")


@pytest.mark.root
def test_a_cold_local_build_imports_no_unpacker_registry_crypto_or_process_module(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    ctx = context(tmp_path, "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n", {"a.txt": "a\n"})
    modules = imported("--root", str(store.root), "bud", "-q", "--no-cache", "-t", "cold", str(ctx))
    assert "pybuild.builder.sandbox.chroot" in modules  # the RUN did run
    assert [m for p in NOT_ON_A_COLD_LOCAL_BUILD for m in loaded(modules, p)] == []
