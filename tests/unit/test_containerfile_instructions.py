"""Typed instructions: fields, flags, validation and errors with file:line."""

from __future__ import annotations

import pytest

from pybuild.builder.containerfile import instructions as I
from pybuild.builder.containerfile import parse
from pybuild.errors import ContainerfileError


def one(text: str) -> I.Instruction:
    doc = parse("FROM scratch\n" + text, "Cf")
    return I.from_node(doc.nodes[1], "Cf")


def err(text: str) -> str:
    with pytest.raises(ContainerfileError) as e:
        one(text)
    return str(e.value)


def test_from_with_platform_and_stage_name() -> None:
    f = I.from_node(parse("FROM --platform=$BUILDPLATFORM golang:1 AS Build\n").nodes[0])
    assert isinstance(f, I.From)
    assert (f.image, f.stage_name, f.platform, f.line) == ("golang:1", "build", "$BUILDPLATFORM", 1)


@pytest.mark.parametrize(("text", "message"), [
    ("FROM a AS 1x\n", 'invalid name for build stage: "1x"'),
    ("FROM a b\n", "FROM requires either one or three arguments"),
    ("FROM --pltform=x a\n", "unknown flag: pltform"),
])
def test_from_errors(text: str, message: str) -> None:
    with pytest.raises(ContainerfileError, match=message) as e:
        I.from_node(parse(text, "Cf").nodes[0], "Cf")
    assert e.value.line == 1


def test_run_shell_and_exec_form() -> None:
    r = one("RUN echo hi\n")
    assert isinstance(r, I.Run) and r.command == "echo hi" and r.is_shell_form and r.original == "RUN echo hi"
    r = one('RUN ["echo", "hi"]\n')
    assert isinstance(r, I.Run) and r.command == ["echo", "hi"] and r.is_exec_form


def test_run_mounts_all_types() -> None:
    r = one("RUN --mount=type=bind,source=src,target=/s,from=b,rw "
            "--mount=type=cache,target=/c,sharing=locked,mode=0700,uid=1,gid=2,id=x "
            "--mount=type=tmpfs,target=/t,size=64m --mount=type=secret,id=tok,required "
            "--mount=type=ssh --network=none --security=sandbox true\n")
    assert isinstance(r, I.Run)
    bind, cache, tmpfs, secret, ssh = r.mounts
    assert (bind.type, bind.source, bind.target, bind.from_, bind.readonly) == ("bind", "src", "/s", "b", False)
    assert (cache.sharing, cache.mode, cache.uid, cache.gid, cache.id) == ("locked", 0o700, 1, 2, "x")
    assert tmpfs.size == 64 * 1024 * 1024
    assert (secret.id, secret.target, secret.required) == ("tok", "/run/secrets/tok", True)
    assert (ssh.id, ssh.target) == ("default", "/run/buildkit/ssh_agent.0")
    assert r.network == "none" and r.security == "sandbox"


@pytest.mark.parametrize(("flag", "message"), [
    ("--mount=type=nfs,target=/x", "unsupported mount type"),
    ("--mount=type=bind", "requires a target"),
    ("--mount=type=bind,target=/x,sharing=locked", "sharing is only allowed for cache"),
    ("--mount=type=tmpfs,target=/x,from=a", "'from' is not supported"),
    ("--mount=type=cache,target=/x,bogus=1", "unexpected key 'bogus'"),
    ("--mount=type=cache,target=/x,mode=9", "invalid value 9 for mode"),
    ("--network=bridge", "unsupported network mode"),
    ("--security=root", "is not valid"),
    ("--network=none --network=host", "duplicate flag specified: network"),
])
def test_run_flag_errors(flag: str, message: str) -> None:
    assert message in err(f"RUN {flag} true\n")


def test_run_heredoc_script() -> None:
    r = one("RUN <<EOF\necho a\nEOF\n")
    assert isinstance(r, I.Run) and r.script() == "echo a\n" and r.shebang_file() is None
    r = one("RUN python3 <<EOF\nprint(1)\nEOF\n")
    assert isinstance(r, I.Run) and r.script() == "python3 <<EOF\nprint(1)\nEOF"
    r = one("RUN <<EOF\n#!/bin/sh\necho\nEOF\n")
    assert isinstance(r, I.Run) and r.shebang_file() is not None


def test_copy_flags() -> None:
    c = one("COPY --from=b --chown=1:2 --chmod=0755 --link --parents --exclude=*.md --exclude=x a b /d/\n")
    assert isinstance(c, I.Copy) and not isinstance(c, I.Add)
    assert (c.sources, c.dest, c.from_, c.chown, c.chmod) == (("a", "b"), "/d/", "b", "1:2", "0755")
    assert c.link and c.parents and c.excludes == ("*.md", "x")


def test_copy_symbolic_chmod_and_bad_chmod() -> None:
    c = one("COPY --chmod=u+x,g-w a /d\n")
    assert isinstance(c, I.Copy) and c.chmod == "u+x,g-w"
    assert "invalid chmod" in err("COPY --chmod=999 a /d\n")
    # a variable is checked once expanded (BuildKit's testCopyChmod: --chmod=${mode})
    assert one("COPY --chmod=${mode} a /d\n").chmod == "${mode}"


def test_copy_heredoc_sources() -> None:
    c = one("COPY <<A <<'B' /d/\nx $y\nA\nraw\nB\n")
    assert isinstance(c, I.Copy) and c.sources == ()
    assert [(f.name, f.body, f.expand) for f in c.heredocs] == [("A", "x $y\n", True), ("B", "raw\n", False)]


def test_copy_errors() -> None:
    assert err("COPY a\n") == ("Cf:2: COPY requires at least two arguments, but only one was provided. "
                               "Destination could not be determined.")
    assert err("COPY --user=me a b\n") == "Cf:2: COPY: unknown flag: user"
    assert "heredoc as a destination" in err("COPY a <<EOF\nx\nEOF\n")
    assert "unknown flag: checksum" in err("COPY --checksum=sha256:ab a b\n")


def test_add_flags() -> None:
    a = one("ADD --checksum=sha256:abcd --keep-git-dir --unpack=false --chown=x https://e/x.tar /d\n")
    assert isinstance(a, I.Add)
    assert (a.checksum, a.keep_git_dir, a.unpack, a.chown) == ("sha256:abcd", True, False, "x")
    assert "unknown flag: from" in err("ADD --from=x a b\n")
    assert "expecting boolean value for flag link" in err("ADD --link=maybe a b\n")


def test_env_label_arg() -> None:
    e = one('ENV a=1 b="x y"\n')
    assert isinstance(e, I.Env) and e.pairs == (("a", "1"), ("b", '"x y"'))
    e = one("ENV legacy value with spaces\n")
    assert isinstance(e, I.Env) and e.pairs == (("legacy", "value with spaces"),)
    lab = one('LABEL "com.x"="y" z=1\n')
    assert isinstance(lab, I.Label) and lab.pairs == (('"com.x"', '"y"'), ("z", "1"))
    a = one("ARG A B=2\n")
    assert isinstance(a, I.Arg) and a.args == (("A", None), ("B", "2"))
    assert err("ARG =x\n") == "Cf:2: ARG names can not be blank"
    assert err("ENV a=1 b\n").startswith("Cf:2: Syntax error - can't find = in \"b\"")


def test_simple_instructions() -> None:
    assert one("EXPOSE 80 443/udp 8000-8010\n") == I.Expose(
        ports=("80", "443/udp", "8000-8010"), line=2, end_line=2, original="EXPOSE 80 443/udp 8000-8010", file="Cf")
    v = one('VOLUME ["/a", "/b"]\n')
    assert isinstance(v, I.Volume) and v.paths == ("/a", "/b")
    w = one("WORKDIR /app\n")
    assert isinstance(w, I.Workdir) and w.path == "/app"
    u = one("USER app:app\n")
    assert isinstance(u, I.User) and u.user == "app:app"
    s = one('SHELL ["/bin/bash", "-c"]\n')
    assert isinstance(s, I.Shell) and s.argv == ["/bin/bash", "-c"]
    sig = one("STOPSIGNAL SIGTERM\n")
    assert isinstance(sig, I.StopSignal) and sig.signal == "SIGTERM"
    m = one("MAINTAINER me <m@e>\n")
    assert isinstance(m, I.Maintainer) and m.name == "me <m@e>"
    c = one("CMD echo $HOME\n")
    assert isinstance(c, I.Cmd) and c.command == "echo $HOME" and not c.is_exec_form
    ep = one("ENTRYPOINT []\n")
    assert isinstance(ep, I.Entrypoint) and ep.command is None


@pytest.mark.parametrize(("text", "message"), [
    ("SHELL /bin/sh -c\n", "Cf:2: SHELL requires the arguments to be in JSON form"),
    ("WORKDIR\n", "Cf:2: WORKDIR requires exactly one argument"),
    ("USER\n", "Cf:2: USER requires exactly one argument"),
    ("EXPOSE\n", "Cf:2: EXPOSE requires at least one argument"),
    ('VOLUME [""]\n', "Cf:2: VOLUME specified can not be an empty string"),
    ("CMD --doit [\"a\"]\n", "Cf:2: CMD: unknown flag: doit"),
    ("FOO bar\n", "Cf:2: unknown instruction: FOO"),
    ("ONBUILD ONBUILD RUN x\n", "Cf:2: ONBUILD: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM x\n", "Cf:2: ONBUILD: FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER x\n", "Cf:2: ONBUILD: MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("HEALTHCHECK NONE x\n", "Cf:2: HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CONNECT x\n", 'Cf:2: HEALTHCHECK: Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK CMD\n", "Cf:2: HEALTHCHECK: Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK --interval=1us CMD x\n", 'cannot be less than 1ms'),
    ("HEALTHCHECK --retries=-1 CMD x\n", "--retries cannot be negative"),
])
def test_instruction_errors(text: str, message: str) -> None:
    assert message in err(text)


def test_healthcheck_durations_in_nanoseconds() -> None:
    h = one("HEALTHCHECK --interval=1m30s --timeout=3s --start-period=1.5s --start-interval=500ms "
            "--retries=4 CMD curl -f http://x/\n")
    assert isinstance(h, I.Healthcheck)
    assert h.test == ["CMD-SHELL", "curl -f http://x/"]
    assert (h.interval, h.timeout, h.start_period, h.start_interval, h.retries) == (
        90_000_000_000, 3_000_000_000, 1_500_000_000, 500_000_000, 4)
    h = one('HEALTHCHECK CMD ["/bin/check", "-q"]\n')
    assert isinstance(h, I.Healthcheck) and h.test == ["CMD", "/bin/check", "-q"]
    h = one("HEALTHCHECK NONE\n")
    assert isinstance(h, I.Healthcheck) and h.test is None


def test_onbuild_keeps_expression_and_inner() -> None:
    o = one("ONBUILD COPY --chown=1 . /app\n")
    assert isinstance(o, I.Onbuild) and o.expression == "COPY --chown=1 . /app"
    assert isinstance(o.inner, I.Copy) and o.inner.chown == "1"
    assert "unknown flag" in err("ONBUILD COPY --nope . /app\n")


def test_parse_duration_and_expose_ports() -> None:
    assert I.parse_duration("1h2m3.5s") == 3_723_500_000_000
    assert I.parse_duration("0") == 0
    with pytest.raises(ValueError):
        I.parse_duration("5")
    assert I.expose_ports(["80", "53/UDP", "8000-8002/tcp"]) == [
        "80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"]
    with pytest.raises(ValueError, match="invalid proto"):
        I.expose_ports(["80/icmp"])


def test_unsupported_features_parse_and_are_reported() -> None:
    assert I.unsupported(one("RUN --security=insecure x\n")) is None  # gated by --allow security.insecure
    for supported in ("RUN --mount=type=ssh git clone x\n", "ADD https://github.com/a/b.git /src\n",
                      "ADD --keep-git-dir git@github.com:a/b.git /src\n"):
        assert I.unsupported(one(supported)) is None
    assert I.unsupported(one("ADD https://example.com/x.tar.gz /src\n")) is None
    assert I.unsupported(one("RUN --mount=type=cache,target=/c x\n")) is None


def test_a_mount_value_with_a_variable_is_parsed_once_expanded() -> None:
    from pybuild.builder.containerfile.evaluate import StageEvaluator
    from pybuild.builder.graph import build_graph

    r = one("RUN --mount=type=$T,target=$D x\n")
    assert isinstance(r, I.Run) and r.mounts[0].deferred
    assert "'from' doesn't support variable expansion" in err("RUN --mount=from=$S,target=/x x\n")
    text = "FROM scratch\nARG T=cache\nARG D=/c\nARG S=locked\nRUN --mount=type=$T,target=$D,sharing=$S x\n" \
           "ARG T=nope\nRUN --mount=type=$T,target=/x y\n"
    graph = build_graph(parse(text, "Cf"), platform="linux/amd64", build_platform="linux/amd64")
    ev = StageEvaluator(graph.stages[0], graph)
    instrs = list(graph.stages[0].instructions)
    for instr in instrs[:3]:
        ev.apply(ev.expand(instr))
    run = ev.expand(instrs[3])
    assert isinstance(run, I.Run)
    m = run.mounts[0]
    assert (m.type, m.target, m.sharing, m.id, m.deferred) == ("cache", "/c", "locked", "/c", False)
    ev.apply(ev.expand(instrs[4]))
    with pytest.raises(ContainerfileError, match=r"Cf:7: RUN: --mount=type=\$T,target=/x: unsupported mount type 'nope'"):
        ev.expand(instrs[5])
