"""Bad values in a Containerfile: one ``file:line`` error before the first step runs, never a
traceback (BuildKit refuses them while converting the Dockerfile). Runs the executor
in-process over a vfs store, FROM scratch, so no root is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.errors import ContainerfileError
from pybuild.events import STEP
from tests.build_helpers import build, vfs_store


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    d = tmp_path / "ctx"
    d.mkdir()
    (d / "f").write_text("f")
    return d


BAD = [
    ("EXPOSE 80/foo", 'EXPOSE: invalid port: "80/foo": invalid proto: foo'),
    ("EXPOSE 99999", "EXPOSE: invalid containerPort: 99999"),
    ("EXPOSE 90-80", "EXPOSE: invalid containerPort: 90-80"),
    ("EXPOSE abc", "EXPOSE: invalid containerPort: abc"),
    ("EXPOSE /tcp", 'EXPOSE: invalid port: "/tcp": no port specified'),
    ("EXPOSE 80 8080-8081:90-95", "EXPOSE: invalid ranges specified for container and host Ports: 90-95 and 8080-8081"),
    ("STOPSIGNAL SIGFOO", "STOPSIGNAL: Invalid signal: SIGFOO"),
    ("STOPSIGNAL 0", "STOPSIGNAL: Invalid signal: 0"),
    ("STOPSIGNAL 1_0", "STOPSIGNAL: Invalid signal: 1_0"),
    ("HEALTHCHECK --interval=5x CMD true", 'HEALTHCHECK: --interval: time: unknown unit "x" in duration "5x"'),
    ("HEALTHCHECK --timeout=9999999999h CMD true", 'HEALTHCHECK: --timeout: time: invalid duration "9999999999h"'),
    ("HEALTHCHECK --start-period=0.1ms CMD true", 'HEALTHCHECK: Interval "start-period" cannot be less than 1ms'),
    ("HEALTHCHECK --retries=-1 CMD true", "HEALTHCHECK: --retries cannot be negative (-1)"),
    ("HEALTHCHECK --retries=1_0 CMD true", 'HEALTHCHECK: --retries: strconv.ParseInt: parsing "1_0": invalid syntax'),
    ("HEALTHCHECK --retries=9999999999 CMD true", "value out of range"),
    ("ADD --checksum=sha256:" + "a" * 64 + " f /f", "ADD: checksum requires HTTP(S) or Git sources"),
    ("ADD --checksum=sha256:" + "a" * 64 + " http://127.0.0.1:9/a f /d/",
     "ADD: checksum can't be specified for multiple sources"),
    ("COPY f /a\x00b", "COPY: a path cannot hold a NUL character"),
    ("WORKDIR /w\x00", "WORKDIR: a path cannot hold a NUL character"),
    ("ARG P=80/x\nEXPOSE $P", 'EXPOSE: invalid port: "80/x": invalid proto: x'),
    ("ENV S=SIGNOPE\nSTOPSIGNAL ${S}", "STOPSIGNAL: Invalid signal: SIGNOPE"),
]


@pytest.mark.parametrize(("line", "message"), BAD, ids=[b[0].replace("\n", " ").replace("\x00", "NUL") for b in BAD])
def test_a_bad_value_fails_before_the_first_step(tmp_path: Path, ctx: Path, line: str, message: str) -> None:
    store = vfs_store(tmp_path / "store")
    text = f"FROM scratch\nCOPY f /first\n{line}\nCOPY f /last\n"
    events: list[object] = []
    with pytest.raises(ContainerfileError) as info:
        import pybuild

        pybuild.build(ctx, store=store, containerfile_text=text, on_event=events.append)
    bad_line = 3 + line.count("\n")
    assert str(info.value).startswith(f"Containerfile:{bad_line}: "), str(info.value)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert not [e for e in events if getattr(e, "kind", None) == STEP]  # nothing ran
    assert store.images() == []


GOOD = [
    ("EXPOSE 0 80/UDP 1.2.3.4:8080:80 8000-8002/sctp 7:7", {"0/tcp", "80/udp", "80/tcp", "8000/sctp", "8001/sctp",
                                                           "8002/sctp", "7/tcp"}),
    ("STOPSIGNAL 99", "99"), ("STOPSIGNAL sigrtmin+3", "sigrtmin+3"), ("STOPSIGNAL kill", "kill"),
]


@pytest.mark.parametrize(("line", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_good_values_build(tmp_path: Path, ctx: Path, line: str, expected: object) -> None:
    image, _ = build(vfs_store(tmp_path / "store"), ctx, f"FROM scratch\n{line}\n")
    cfg = image.config.config
    assert (set(cfg.exposed_ports) if line.startswith("EXPOSE") else cfg.stop_signal) == expected


def test_a_value_from_the_base_image_env_fails_at_its_step_with_file_line(tmp_path: Path, ctx: Path) -> None:
    store = vfs_store(tmp_path / "store")
    build(store, ctx, "FROM scratch\nENV PORT=80/nope SIG=WHAT\n", tags=["base"])
    for line in ("EXPOSE $PORT", "STOPSIGNAL $SIG"):
        with pytest.raises(ContainerfileError) as info:
            build(store, ctx, f"FROM base\nCOPY f /x\n{line}\n")
        assert str(info.value).startswith("Containerfile:3: "), str(info.value)
    # an ENV built from the base image's is not judged before its step either
    image, _ = build(store, ctx, "FROM base\nENV P2=$PORT\nENV PORT=81\nEXPOSE 82\n")
    assert set(image.config.config.exposed_ports) == {"82/tcp"}
