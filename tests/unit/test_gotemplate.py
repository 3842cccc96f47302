"""Go text/template over inspect data: each expected string is what `buildah inspect -f`
(buildah 1.28, Go's text/template) printed for an image with this config."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybuild.builder.inspect_types import BUILDER_INFO
from pybuild.errors import ConfigError
from pybuild.gotemplate import go_duration, go_time, render

CONFIG = {
    "User": "app",
    "ExposedPorts": {"443/udp": {}, "80/tcp": {}},
    "Env": ["PATH=/usr/bin:/bin", "A=1", "B=2"],
    "Entrypoint": ["/bin/sh", "-c"],
    "Cmd": ["echo hi"],
    "Volumes": {"/data": {}},
    "WorkingDir": "/tmp",
    "Labels": {"x": "y", "k": "v"},
    "StopSignal": "SIGTERM",
}
HISTORY = [
    {"created": "2026-12-01T23:39:53.494567203Z", "created_by": "/bin/sh -c #(nop) COPY f in /bin/busybox ",
     "empty_layer": True},
    {"created": "2026-12-01T23:40:04.000331642Z", "created_by": '/bin/sh -c #(nop) CMD ["echo hi"]',
     "comment": "FROM localhost/busybox:latest"},
]
ROOTFS = {"type": "layers", "diff_ids": ["sha256:9db9", "sha256:5f70"]}
INFO = {
    "Type": "pybuild 0.1.0",
    "FromImage": "localhost/tmpl:latest",
    "OCIv1": {"created": "2026-12-01T23:40:03.244822563Z", "architecture": "amd64", "os": "linux",
              "config": CONFIG, "rootfs": ROOTFS, "history": HISTORY},
    "Docker": {"created": "2026-12-01T23:40:03.244822563Z", "architecture": "amd64", "os": "linux",
               "config": {**CONFIG, "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000,
                                                    "Timeout": 90_000_000_000, "Retries": 2}},
               "rootfs": ROOTFS, "history": HISTORY},
    "History": HISTORY,
    "ImageAnnotations": {},
}


def fmt(template: str) -> str:
    return render(template, INFO, BUILDER_INFO)


@pytest.mark.parametrize("template, expected", [
    ("{{.OCIv1.Config.Env}}", "[PATH=/usr/bin:/bin A=1 B=2]"),
    ("{{.Docker.Config.Cmd}}", "[echo hi]"),
    ("{{.FromImage}}", "localhost/tmpl:latest"),
    ("{{ .FromImage }}", "localhost/tmpl:latest"),
    ("{{.OCIv1.Config.Labels}}", "map[k:v x:y]"),
    ("{{.OCIv1.Config.ExposedPorts}}", "map[443/udp:{} 80/tcp:{}]"),
    ("{{.OCIv1.Config.Volumes}}", "map[/data:{}]"),
    ("{{.OCIv1.Created}}", "2026-12-01 23:40:03.244822563 +0000 UTC"),
    ("{{.Docker.Created}}", "2026-12-01 23:40:03.244822563 +0000 UTC"),
    ("{{.OCIv1.RootFS}}", "{layers [sha256:9db9 sha256:5f70]}"),
    ("{{.Docker.RootFS}}", "{layers [sha256:9db9 sha256:5f70]}"),
    ("{{.OCIv1.Config}}", "{app map[443/udp:{} 80/tcp:{}] [PATH=/usr/bin:/bin A=1 B=2] [/bin/sh -c] [echo hi] "
                          "map[/data:{}] /tmp map[k:v x:y] SIGTERM false}"),
    ("{{index .History 0}}", "{2026-12-01 23:39:53.494567203 +0000 UTC /bin/sh -c #(nop) COPY f in /bin/busybox "
                             "   true}"),
    ("{{index .Docker.History 1}}", '{2026-12-01 23:40:04.000331642 +0000 UTC  /bin/sh -c #(nop) CMD ["echo hi"] '
                                    "FROM localhost/busybox:latest false}"),
    ("{{.Docker.Config.Healthcheck}}", "{[CMD-SHELL true] 30s 1m30s 0s 2}"),
    ("{{.Docker.Config.Healthcheck.Interval}}", "30s"),
    ("{{.Docker.Config.Healthcheck.Test}}", "[CMD-SHELL true]"),
    ("{{.Docker.Config.StopTimeout}}", "<nil>"),
    ("{{.Docker.Config.OnBuild}}", "[]"),
    ("{{.Docker.Size}}", "0"),
    ("{{.ImageAnnotations}}", "map[]"),
    ("{{.OCIv1.Config.Labels.k}}", "v"),
    ("{{.OCIv1.Config.Labels.missing}}", "<no value>"),
    ('{{index .OCIv1.Config.Labels "k"}}', "v"),
    ('{{index .OCIv1.Config.Labels "missing"}}', ""),
    ("{{len .OCIv1.Config.Env}}", "3"),
    ("{{.OCIv1.Config.Env | len}}", "3"),
    ("{{range .OCIv1.Config.Env}}{{.}};{{end}}", "PATH=/usr/bin:/bin;A=1;B=2;"),
    ("{{range $k, $v := .OCIv1.Config.Labels}}{{$k}}={{$v}},{{end}}", "k=v,x=y,"),
    ("{{range $i, $e := .OCIv1.Config.Env}}{{$i}}:{{$e}} {{end}}", "0:PATH=/usr/bin:/bin 1:A=1 2:B=2 "),
    ("{{range .Docker.Config.Shell}}x{{else}}none{{end}}", "none"),
    ("{{if .OCIv1.Config.User}}user={{.OCIv1.Config.User}}{{else}}nouser{{end}}", "user=app"),
    ("{{if .OCIv1.Author}}a{{else if .OCIv1.OS}}os={{.OCIv1.OS}}{{else}}none{{end}}", "os=linux"),
    ("{{with .OCIv1.Config.WorkingDir}}wd={{.}}{{end}}", "wd=/tmp"),
    ('{{printf "%s-%d" .OCIv1.OS 3}}', "linux-3"),
    ("{{- .OCIv1.OS -}}  x", "linuxx"),
    ("a {{/* a comment */}}b", "a b"),
    ("{{json .OCIv1.Config.Entrypoint}}", '["/bin/sh","-c"]'),
    ('{{join .OCIv1.Config.Env ","}}', "PATH=/usr/bin:/bin,A=1,B=2"),
    ('{{if eq .OCIv1.OS "linux"}}yes{{end}}', "yes"),
    ("{{if gt (len .OCIv1.Config.Env) 2}}many{{end}} {{lt 1 2}} {{ge 2 3}}", "many true false"),
    ("{{(index .History 1).Comment}}", "FROM localhost/busybox:latest"),
    ("{{$.Type}} {{.Container}}|", "pybuild 0.1.0 |"),
])
def test_prints_as_buildah(template: str, expected: str) -> None:
    assert fmt(template) == expected


@pytest.mark.parametrize("template, message", [
    ("{{.Nope}}", 'template: format:1:2: executing "format" at <.Nope>: can\'t evaluate field Nope in type '
                  "pybuild.BuilderInfo"),
    ("{{.OCIv1.Config.Nope}}", 'template: format:1:8: executing "format" at <.OCIv1.Config.Nope>: can\'t evaluate '
                               "field Nope in type v1.ImageConfig"),
    ("{{.Type.X}}", 'template: format:1:7: executing "format" at <.Type.X>: can\'t evaluate field X in type string'),
    ("{{.OCIv1.Config.Labels.k.x}}", 'template: format:1:8: executing "format" at <.OCIv1.Config.Labels.k.x>: '
                                     "can't evaluate field x in type string"),
    ("{{index .OCIv1.RootFS.DiffIDs 5}}", 'template: format:1:2: executing "format" at <index .OCIv1.RootFS.DiffIDs '
                                          "5>: error calling index: index out of range: 5"),
    ("{{.OCIv1.Config.Env 1}}", 'template: format:1:8: executing "format" at <.OCIv1.Config.Env>: Env has arguments '
                                "but cannot be invoked as function"),
    ("{{foo}}", 'template: format:1: function "foo" not defined'),
    ("{{range .OCIv1.Config.Env}}", "template: format:1: unexpected EOF"),
    ("{{end}}", "template: format:1: unexpected {{end}}"),
    ("{{.A", "template: format:1: unclosed action"),
])
def test_errors_read_as_go_templates(template: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        fmt(template)
    assert str(e.value) == message


def test_untyped_json_prints_as_an_interface() -> None:
    data = {"a": [1, "x", None, True], "m": {"b": 2.5, "a": {}}}
    assert render("{{.a}} {{.m}} {{.m.a}} {{.zz}}", data) == "[1 x <nil> true] map[a:map[] b:2.5] map[] <no value>"


def test_go_time_and_duration_strings() -> None:
    assert go_time("2026-12-01T23:40:03Z") == "2026-12-01 23:40:03 +0000 UTC"
    assert go_time("2026-12-01T23:40:03.500+02:00") == "2026-12-01 23:40:03.5 +0200 +0200"
    assert go_time(None) == "0001-01-01 00:00:00 +0000 UTC"
    assert [go_duration(n) for n in (0, 1_500_000, 30_000_000_000, 90_000_000_000, 3_723_000_000_000)] == \
        ["0s", "1.5ms", "30s", "1m30s", "1h2m3s"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(['{{', '}}', '{{-', ' -}}', '.', 'OCIv1', 'Config', 'Env', 'Labels', '$',
                                         '$x', ':=', ',', '|', '(', ')', '"k"', '`r`', '0', '1', 'index', 'len',
                                         'json', 'range', 'if', 'else', 'with', 'end', 'printf', '"%s"', 'eq',
                                         ' ', '\n', 'a', '/*', '*/', 'nil', 'true', 'Nope', 'Docker', 'Cmd',
                                         'Healthcheck', 'History', '-', '\\', '"']), max_size=25))
def test_any_template_renders_or_fails_with_one_line(pieces: list[str]) -> None:
    template = "".join(pieces)
    try:
        out = fmt(template)
    except ConfigError as e:
        assert "\n" not in str(e) and str(e).startswith("template: format:")
    else:
        assert isinstance(out, str)
