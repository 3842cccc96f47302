"""What a buildah user sees of a build's and an image's output: `bud -o -` on stdout, step
durations (plain and JSON), `inspect -f` with buildah's Go-template fields, the version in
one place, and the names `pull` gives (checked against what buildah 1.28 does)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

import pybuild
from tests.cli_helpers import PYBUILD, build_busybox, images, pyb
from tests.conftest import need_tool
from tests.tty_helpers import run_on_tty

pytestmark = [pytest.mark.root, pytest.mark.integration]

CONTAINERFILE = """\
FROM busybox
ENV A=1 B=2
LABEL k=v x=y
EXPOSE 80 443/udp
RUN echo hello > /hi && echo ran-the-step
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store holding busybox (built from busybox-static) and that image's ID."""
    return build_busybox(tmp_path_factory.mktemp("output-cli"))


@pytest.fixture(scope="module")
def app(base: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The store with ``app`` built from CONTAINERFILE; (store root, context)."""
    root, _ = base
    ctx = tmp_path_factory.mktemp("app-ctx")
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    pyb(root, "bud", "-t", "app", str(ctx))
    return root, ctx


def test_bud_output_dash_writes_only_the_tar_to_stdout(app: tuple[Path, Path]) -> None:
    root, ctx = app
    for spec in ("-", "type=tar,dest=-"):
        proc = subprocess.run([*PYBUILD, "--root", str(root), "bud", "--no-cache", "-o", spec, str(ctx)],
                              capture_output=True, timeout=300, env={**os.environ, "CI": "1"})
        stderr = proc.stderr.decode()
        assert proc.returncode == 0, stderr
        # stdout is exactly one tar holding the built files; progress went to stderr
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            hi = tar.extractfile("hi")
            assert hi is not None and hi.read() == b"hello\n"
            assert "bin/busybox" in tar.getnames()
        assert "STEP 5/7: RUN echo hello" in stderr and "ran-the-step" in stderr


def test_version_is_one_value_in_version_and_inspect(app: tuple[Path, Path]) -> None:
    root, _ = app
    out = pyb(root, "--version").stdout
    assert out.strip() == f"pybuild, version {pybuild.__version__}"
    assert pyb(root, "inspect", "-f", "{{.Type}}", "app").stdout.strip() == f"pybuild {pybuild.__version__}"
    assert json.loads(pyb(root, "inspect", "app").stdout)["Type"] == f"pybuild {pybuild.__version__}"


def test_pull_names_images_as_buildah_does(base: tuple[Path, str], tmp_path: Path) -> None:
    root, image_id = base
    layout = tmp_path / "some" / "path" / "debian"
    pyb(root, "push", "busybox", f"oci:{layout}:bookworm")
    pyb(root, "push", "busybox", f"oci-archive:{tmp_path}/bb.tar:myname:v2")
    pyb(root, "push", "busybox", f"docker-archive:{tmp_path}/d.tar:foo/bar:v3")
    other = tmp_path / "other"
    # buildah names an oci: pull after the layout's path, not after the tag that picked it
    pyb(other, "pull", f"oci:{layout}:bookworm")
    pyb(other, "pull", f"oci-archive:{tmp_path}/bb.tar")
    pyb(other, "pull", f"docker-archive:{tmp_path}/d.tar")
    names = {n for i in images(other) for n in i["names"]}  # type: ignore[attr-defined]
    assert names == {f"localhost{layout}:latest", "localhost/myname:v2", "docker.io/foo/bar:v3"}
    # the library names it the same way
    lib = tmp_path / "lib"
    img = pybuild.pull(f"oci:{layout}:bookworm", store=lib)
    assert img.id == image_id and img.names == [f"localhost{layout}:latest"]


def test_steps_report_their_duration_plain_and_json(app: tuple[Path, Path]) -> None:
    root, ctx = app
    plain = pyb(root, "bud", "--no-cache", "--progress", "plain", "-t", "app2", str(ctx)).stdout
    # each executed step ends with its time, as BuildKit's "#5 DONE 0.3s"
    assert len(re.findall(r"^--> DONE \d+\.\ds$", plain, re.M)) == 7, plain
    events = [json.loads(line) for line in
              pyb(root, "bud", "--progress", "json", "-t", "app2", str(ctx)).stdout.splitlines()]
    done = [e for e in events if e["kind"] == "step-done"]
    assert [e["step"] for e in done] == list(range(1, 8))
    assert all(isinstance(e["duration"], float) and e["duration"] >= 0 for e in done)
    assert [e["cached"] for e in done] == [False] + [True] * 6  # FROM is never "cached"


def test_tty_progress_is_a_live_view_per_step(base: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = base
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nENV A=1\n"
                                       "RUN echo first-line && sleep 1.5 && echo second-line && sleep 1\n"
                                       "RUN echo \"$A\" > /a\n")
    argv = [*PYBUILD, "--root", str(root), "bud", "-t", "live", str(ctx)]
    run = run_on_tty(argv, columns=100, lines=30)
    assert run.status == 0, "\n".join(run.final)
    assert run.stdout.decode().split() == [run.stdout.decode().strip()]  # stdout: the image ID alone
    step3 = " => STEP 3/4: RUN echo first-line"
    # while step 3 ran: its line with a timer that moves, its last output lines under it
    live = [s for s in run.screens if any(line.startswith(step3) for line in s) and "FINISHED" not in s[0]]
    with_output = [s for s in live if " => => # first-line" in s]
    assert with_output, "\n".join(live[-1] if live else run.final)
    timers = {line.split()[-1] for s in live for line in s if line.startswith(step3)}
    assert len(timers) >= 3 and all(re.fullmatch(r"\d+\.\ds", t) for t in timers), timers
    # done: one line per step, each with its time, and no step output left on the screen
    final = [line for line in run.final if line]
    assert re.fullmatch(r"\[\+\] Building \d+\.\ds \(4/4\) FINISHED", final[0]), final
    assert [line.split(":")[0] for line in final[1:5]] == [f" => STEP {n}/4" for n in range(1, 5)], final
    assert all(re.search(r" \d+\.\ds$", line) for line in final[1:5]), final
    assert not any("# first-line" in line for line in final), final
    assert "Successfully tagged localhost/live:latest" in final[-1], final
    # a rebuild marks the cache hits
    again = [line for line in run_on_tty(argv, columns=100, lines=30).final if line]
    assert [line.split(":")[0] for line in again[2:5]] == [f" => CACHED STEP {n}/4" for n in range(2, 5)], again
    # a failing step keeps its output on the final screen
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo out1 && echo out2 >&2 && exit 3\n")
    failed = run_on_tty(argv, columns=100, lines=30)
    assert failed.status == 3
    lines = [line for line in failed.final if line]
    assert lines[0].endswith("ERROR") and lines[2].startswith(" => ERROR STEP 2/2: RUN echo out1"), lines
    assert sorted(lines[3:5]) == [" => => # out1", " => => # out2"], lines  # stdout and stderr: either order
    # not a terminal: the plain lines, as before
    plain = pyb(root, "bud", "--no-cache", str(ctx), check=False).stdout
    assert "STEP 2/2: RUN echo out1" in plain and "out1" in plain and "\x1b" not in plain
    # stages running side by side share one view
    (ctx / "Containerfile").write_text("FROM busybox AS a\nRUN echo a-out && sleep 2\nFROM busybox AS b\n"
                                       "RUN echo b-out && sleep 2\nFROM busybox\nCOPY --from=a /etc/passwd /pa\n"
                                       "COPY --from=b /etc/passwd /pb\n")
    stages = run_on_tty([*argv[:-1], "--no-cache", str(ctx)], columns=100, lines=30)
    assert stages.status == 0
    both = [s for s in stages.screens if " => => # a-out" in s and " => => # b-out" in s]
    assert both, "\n".join(stages.final)
    final = [line for line in stages.final if line]
    assert sum(line.startswith("[+] Building") for line in final) == 1 and "(7/7) FINISHED" in final[0], final
    assert sorted(line.split(":")[0] for line in final[1:8]) == sorted(
        [" => [1/3] STEP 1/2", " => [1/3] STEP 2/2", " => [2/3] STEP 1/2", " => [2/3] STEP 2/2",
         " => [3/3] STEP 1/3", " => [3/3] STEP 2/3", " => [3/3] STEP 3/3"]), final


def test_inspect_format_takes_buildahs_go_template_fields(app: tuple[Path, Path]) -> None:
    root, _ = app

    def fmt(template: str) -> str:
        return pyb(root, "inspect", "-f", template, "app").stdout.rstrip("\n")

    env = "[PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin A=1 B=2]"
    assert fmt("{{.OCIv1.Config.Env}}") == env
    assert fmt("{{.Docker.Config.Cmd}}") == "[echo hi]"
    assert fmt("{{.FromImage}}") == "localhost/app:latest"
    assert fmt("{{.OCIv1.Config.Labels}}") == "map[k:v x:y]"
    assert fmt("{{.OCIv1.Config.ExposedPorts}}") == "map[443/udp:{} 80/tcp:{}]"
    assert fmt('{{index .OCIv1.Config.Labels "k"}}|{{range .OCIv1.Config.Entrypoint}}<{{.}}>{{end}}') == \
        "v|</bin/sh><-c>"
    assert fmt("{{json .OCIv1.Config.Cmd}}") == '["echo hi"]'
    # the example of `inspect --help` works
    help_text = " ".join(pyb(root, "inspect", "--help").stdout.split())
    example = re.search(r"\{\{[^}]*\}\}", help_text)
    assert example and fmt(example.group()) == env
    # an unknown field: Go's one line, a non-zero exit, no traceback
    bad = pyb(root, "inspect", "-f", "{{.OCIv1.Config.Nope}}", "app", check=False)
    assert bad.returncode != 0 and bad.stdout == ""
    assert bad.stderr.strip() == ('Error: template: format:1:8: executing "format" at <.OCIv1.Config.Nope>: '
                                  "can't evaluate field Nope in type v1.ImageConfig")


def test_inspect_of_a_built_image_shows_its_manifest(app: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = app
    built = json.loads(pyb(root, "inspect", "app").stdout)
    assert built["ManifestType"] == "application/vnd.oci.image.manifest.v1+json"
    manifest = json.loads(built["Manifest"])
    assert manifest["config"]["digest"] == f"sha256:{built['FromImageID']}"
    assert [layer["digest"] for layer in manifest["layers"]] == built["Layers"]  # uncompressed, as stored
    assert all(layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar" for layer in manifest["layers"])
    assert built["FromImageDigest"].startswith("sha256:")
    # as for a pulled image: both fields filled
    pyb(root, "push", "app", f"oci:{tmp_path}/layout:app")
    other = tmp_path / "other"
    pyb(other, "pull", f"oci:{tmp_path}/layout:app")
    pulled = json.loads(pyb(other, "inspect", built["FromImageID"]).stdout)
    assert pulled["ManifestType"] == built["ManifestType"] and json.loads(pulled["Manifest"])["layers"]


def test_inspect_format_prints_what_buildah_prints(base: tuple[Path, str], tmp_path: Path) -> None:
    """The same Containerfile built by buildah and by pybuild: each template prints the same."""
    need_tool("buildah")
    root, _ = base
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM busybox\nENV A=1 B=2\nEXPOSE 80 443/udp\nUSER app\nWORKDIR /tmp\nSTOPSIGNAL SIGTERM\n"
        "HEALTHCHECK --interval=30s --timeout=1m30s --retries=2 CMD true\nVOLUME /data\n"
        'ENTRYPOINT ["/bin/sh", "-c"]\nCMD ["echo hi"]\n')
    pyb(root, "push", "busybox", f"oci:{tmp_path}/bb:busybox")
    buildah = ["buildah", "--root", str(tmp_path / "b-root"), "--runroot", str(tmp_path / "b-run"),
               "--storage-driver", "vfs"]

    def run(*args: str) -> str:
        proc = subprocess.run([*buildah, *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    try:
        image = run("pull", "-q", f"oci:{tmp_path}/bb:busybox").strip()
        run("tag", image, "busybox")
        # --layers is pybuild's default; buildah 1.28's (none) commits one layer for the whole build, even an empty one
        run("bud", "-q", "--isolation", "chroot", "--layers", "--format", "docker", "-t", "same", str(ctx))
        pyb(root, "bud", "-q", "--format", "docker", "-t", "same", str(ctx))
        for template in ("{{.OCIv1.Config.Env}}", "{{.Docker.Config.Cmd}}", "{{.OCIv1.Config.Entrypoint}}",
                         "{{.OCIv1.Config.ExposedPorts}}", "{{.OCIv1.Config.Volumes}}", "{{.OCIv1.Config.User}}",
                         "{{.OCIv1.Config.WorkingDir}}", "{{.OCIv1.Config.StopSignal}}",
                         "{{.Docker.Config.Healthcheck}}", "{{.Docker.Config.Healthcheck.Timeout}}",
                         "{{.OCIv1.RootFS.Type}} {{len .OCIv1.RootFS.DiffIDs}}", "{{.OCIv1.Architecture}}",
                         "{{range $k, $v := .OCIv1.Config.ExposedPorts}}{{$k}};{{end}}",
                         "{{.FromImage}}", "{{.Docker.Config.OnBuild}} {{.Docker.Config.StopTimeout}}"):
            theirs = run("inspect", "-f", template, "same")
            ours = pyb(root, "inspect", "-f", template, "same").stdout.rstrip("\n")
            assert ours == theirs, template
    finally:
        subprocess.run([*buildah, "rmi", "-a", "-f"], capture_output=True, timeout=120)
