"""pybuild.build() takes bud's flags in bud's spellings, and refuses a bad one in one line before
anything is opened or built (builder/build_request.py): the library and the command line are one
product (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybuild
from pybuild.builder.build_request import build_options


def test_buildah_pull_spellings_mean_the_same_policy(tmp_path: Path) -> None:
    for spelled, policy in (("true", "always"), ("false", "missing"), ("ifmissing", "missing"),
                            ("Never", "never"), ("ifnewer", "missing")):
        assert build_options(tmp_path, pull=spelled).pull == policy
    with pytest.raises(pybuild.ConfigError, match="invalid --pull 'sometimes'"):
        build_options(tmp_path, pull="sometimes")


def test_key_value_words_and_mappings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_ENV", "here")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    options = build_options(tmp_path, build_args=["A=1", "FROM_ENV", "UNSET_HERE"], labels={"l": "v"},
                            env=["E=2"], build_contexts=["ctx=/somewhere"])
    assert options.build_args == {"A": "1", "FROM_ENV": "here"}  # a bare unset name is dropped, as buildah
    assert options.output.labels == {"l": "v"} and options.output.env == {"E": "2"}
    assert options.build_contexts == {"ctx": "/somewhere"}
    args = tmp_path / "args"
    args.write_text("# comment\nB=2\n\nA=from-file\n")
    assert build_options(tmp_path, build_arg_files=[str(args)], build_args=["A=flag"]).build_args == {
        "B": "2", "A": "flag"}  # --build-arg wins over the file
    args.write_text("B=2\nnot a pair\n")
    with pytest.raises(pybuild.ConfigError, match=r"args:2: expected KEY=VALUE"):
        build_options(tmp_path, build_arg_files=[str(args)])


def test_format_default_follows_buildah_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDAH_FORMAT", "docker")
    assert build_options(tmp_path).output.format == "docker"
    assert build_options(tmp_path, format="oci").output.format == "oci"
    monkeypatch.setenv("BUILDAH_FORMAT", "tar")
    with pytest.raises(pybuild.ConfigError, match="invalid format 'tar'"):
        build_options(tmp_path)


def test_secrets_and_jobs_reach_the_options(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret")
    options = build_options(tmp_path, secrets=[f"id=tok,src={secret}", "id=e,env=HOME"], jobs=3)
    assert options.run.secrets == {"tok": {"src": str(secret)}, "e": {"env": "HOME"}}
    assert options.jobs == 3
    with pytest.raises(pybuild.ConfigError, match="--secret tok: .* is not a file"):
        build_options(tmp_path, secrets=[f"id=tok,src={tmp_path / 'absent'}"])


@pytest.mark.parametrize(("keywords", "message"), [
    ({"outputs": ["type=zip,dest=x"]}, "invalid --output"),
    ({"network": "wifi"}, "--network"),
    ({"no_hosts": True, "add_hosts": ["a:1.2.3.4"]}, "--no-hosts and --add-host conflict"),
    ({"volumes": [":"]}, "volume"),
    ({"cache_to": ["type=s3"]}, "--cache-to"),
    ({"sbom_output": "sbom.json"}, "--sbom-output and --sbom-purl-output need --sbom"),
    ({"file": "-"}, "containerfile_text"),
])
def test_a_bad_value_is_one_line_and_no_store_is_made(tmp_path: Path, keywords: dict[str, object],
                                                      message: str) -> None:
    root = tmp_path / "store"
    with pytest.raises(pybuild.PybuildError, match=message) as caught:
        pybuild.build(tmp_path, store=root, **keywords)
    assert "\n" not in str(caught.value)
    assert not root.exists()


def test_a_context_that_is_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(pybuild.ConfigError, match="is not a directory"):
        build_options(tmp_path / "absent")


def test_one_image_or_several(tmp_path: Path) -> None:
    with pytest.raises(pybuild.ConfigError, match="one build makes one image"):
        pybuild.build(tmp_path, store=tmp_path / "s", platform="linux/amd64,linux/arm64")
    with pytest.raises(pybuild.ConfigError, match=r"one: use pybuild.build\)"):
        pybuild.build_platforms(tmp_path, store=tmp_path / "s", platform="linux/amd64")
    assert not (tmp_path / "s").exists()
