"""DiffIdTee: a layer's bytes pass through unchanged while a thread beside checks its diff_id."""

from __future__ import annotations

import hashlib
import io

import pytest

from pybuild.errors import IntegrityError, UnsafeContentError
from pybuild.oci.compress import CompressingWriter
from pybuild.oci.diffid import DiffIdTee
from pybuild.oci.limits import DecompressionLimits

PLAIN = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: several chunks


def _compressed(fmt: str) -> bytes:
    out = io.BytesIO()
    w = CompressingWriter(out, fmt)
    w.write(PLAIN)
    w.close()
    return out.getvalue()


def _drain(tee: DiffIdTee) -> bytes:
    got = b""
    while chunk := tee.read(65536):
        got += chunk
    return got


@pytest.mark.parametrize("fmt", ["gzip", "zstd", "none"])
def test_right_diff_id_passes_bytes_through_and_measures_size(fmt: str) -> None:
    blob = _compressed(fmt)
    with DiffIdTee(io.BytesIO(blob), "sha256:" + hashlib.sha256(PLAIN).hexdigest(), "layer x") as tee:
        assert _drain(tee) == blob
        tee.check()
        assert tee.size == len(PLAIN)


def test_wrong_diff_id_is_refused_in_one_line() -> None:
    wrong = "sha256:" + "0" * 64
    with DiffIdTee(io.BytesIO(_compressed("gzip")), wrong, "layer x") as tee:
        _drain(tee)
        with pytest.raises(IntegrityError, match=f"layer x: .*{wrong}"):
            tee.check()


def test_bomb_beyond_the_limit_is_refused() -> None:
    right = "sha256:" + hashlib.sha256(PLAIN).hexdigest()
    with DiffIdTee(io.BytesIO(_compressed("gzip")), right, "layer x",
                   limits=DecompressionLimits(max_size=1000)) as tee:
        _drain(tee)
        with pytest.raises(UnsafeContentError, match="exceeds the limit"):
            tee.check()


def test_garbage_is_refused_not_a_traceback() -> None:
    with DiffIdTee(io.BytesIO(b"\x1f\x8b" + b"garbage" * 100), "sha256:" + "0" * 64, "layer x") as tee:
        _drain(tee)
        with pytest.raises(IntegrityError, match="layer x: cannot decompress"):
            tee.check()
