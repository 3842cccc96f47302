"""Issue 17 end to end: `pybuild sbom` of a built image (dpkg, Python and Go packages of a
synthesised tree), bud's SBOM and provenance attached to the pushed index as BuildKit does
(checked with skopeo on a real registry and OCI layouts), reproducible across two stores,
and the flags' mistakes as one line."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from tests.cli_helpers import pyb, skopeo
from tests.http_fixtures import serve_directory
from tests.sbom_helpers import GO_DEP, make_rootfs

pytestmark = [pytest.mark.root, pytest.mark.integration,
              pytest.mark.skipif(not Path("/var/lib/dpkg/status").is_file(), reason="needs a Debian host's dpkg status")]
EPOCH = "1700000000"
SECRET_VALUE = "s3cr3t-value-never-recorded"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A context holding the synthesised tree, built FROM scratch into a store, and a layout
    base image (``oci:BASE:base``) for builds that name one."""
    base = tmp_path_factory.mktemp("sbom-it")
    ctx = base / "ctx"
    made = make_rootfs(ctx / "rootfs", base / "scratch")
    (ctx / "Containerfile").write_text("FROM scratch\nCOPY rootfs/ /\n")
    root = base / "root"
    pyb(root, "bud", "-q", "--timestamp", EPOCH, "-t", "tree", str(ctx))
    layout = base / "layout"
    pyb(root, "push", "tree", f"oci:{layout}:base")
    return {"base": base, "ctx": ctx, "root": root, "layout": layout, "go": made["go"]}


def _own_store(work: dict[str, Any], tmp_path: Path) -> Path:
    """A copy of the module's store, for a test that adds to it."""
    root = tmp_path / "root"
    shutil.copytree(work["root"], root, symlinks=True)
    return root


def _pushed(work: dict[str, Any], tmp_path: Path, registry: Any, repo: str) -> tuple[Path, str]:
    """A store of the test's own, its ``tree`` image pushed to ``registry`` as ``repo:1``."""
    root = _own_store(work, tmp_path)
    ref = f"{registry.host}/{repo}:1"
    pyb(root, "push", "tree", f"docker://{ref}")
    return root, ref


def _validate_spdx(path: Path) -> Any:
    doc = parse_file(str(path))
    assert validate_full_spdx_document(doc) == []
    return doc


def test_sbom_of_a_built_image_lists_dpkg_python_and_go_with_purls(work: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "tree.spdx.json"
    pyb(work["root"], "sbom", "tree", "--format", "spdx-json", "-o", str(out))
    doc = _validate_spdx(out)
    purls = {ref.locator for p in doc.packages for ref in p.external_references}
    assert any(p.startswith("pkg:deb/debian/zlib1g@") for p in purls)
    assert {"pkg:pypi/tinyalpha@1.0", "pkg:pypi/tiny-beta@2.1.0", "pkg:npm/left-pad@1.3.0"} <= purls
    if work["go"]:
        assert f"pkg:golang/{GO_DEP[0]}@{GO_DEP[1]}" in purls
    cdx = pyb(work["root"], "sbom", "tree", "--format", "cyclonedx-json").stdout
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(cdx) is None
    assert {c["purl"] for c in json.loads(cdx)["components"]} == purls
    # the same image read from the OCI layout it was pushed to: the same packages
    again = tmp_path / "layout.spdx.json"
    pyb(work["root"], "sbom", f"oci:{work['layout']}:base", "-o", str(again))
    assert {ref.locator for p in _validate_spdx(again).packages for ref in p.external_references} == purls


def _raw(ref: str) -> dict[str, Any]:
    return json.loads(skopeo("inspect", "--raw", "--tls-verify=false", ref).stdout)  # type: ignore[no-any-return]


def test_bud_attestations_are_in_the_pushed_index(work: dict[str, Any], registry: Any, tmp_path: Path) -> None:
    root = work["root"]
    sbom_file = tmp_path / "sbom.json"
    purls_file = tmp_path / "purls.txt"
    pyb(root, "bud", "-q", "--timestamp", EPOCH, "--sbom", "spdx", "--sbom-output", str(sbom_file),
        "--sbom-purl-output", str(purls_file), "--provenance", "mode=max", "-t", "att", str(work["ctx"]))
    _validate_spdx(sbom_file)
    assert "pkg:pypi/tinyalpha@1.0\n" in purls_file.read_text()
    ref = f"docker://{registry.host}/sbom/att:1"
    pyb(root, "push", "att", ref)
    index = _raw(ref)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    image, att = index["manifests"]
    assert image["platform"]["os"] == "linux"
    assert att["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert att["annotations"] == {"vnd.docker.reference.digest": image["digest"],
                                  "vnd.docker.reference.type": "attestation-manifest"}
    manifest = _raw(f"docker://{registry.host}/sbom/att@{att['digest']}")
    assert [(layer["mediaType"], layer["annotations"]["in-toto.io/predicate-type"]) for layer in manifest["layers"]] == [
        ("application/vnd.in-toto+json", "https://spdx.dev/Document"),
        ("application/vnd.in-toto+json", "https://slsa.dev/provenance/v1")]
    # the statements, as pybuild reads them back from the registry: about the image manifest
    listed = json.loads(pyb(root, "image", "inspect", "--attestations", ref).stdout)
    assert [a["predicateType"] for a in listed] == ["https://spdx.dev/Document", "https://slsa.dev/provenance/v1"]
    for a in listed:
        st = a["statement"]
        assert st["_type"] == "https://in-toto.io/Statement/v1"
        assert st["subject"][0]["digest"]["sha256"] == image["digest"].split(":")[1]
        assert st["subject"][0]["name"] == "pkg:docker/localhost/att@latest?platform=linux%2Famd64"
    predicate = tmp_path / "predicate.spdx.json"
    predicate.write_text(json.dumps(listed[0]["statement"]["predicate"]))
    _validate_spdx(predicate)
    # a client that knows no attestations still gets the image: skopeo copies the platform's
    skopeo("copy", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'plain'}:x")
    # image copy --all keeps them, into an OCI layout
    pyb(root, "image", "copy", "--all", ref, f"oci:{tmp_path / 'kept'}:x")
    assert _raw(f"oci:{tmp_path / 'kept'}:x") == index
    # the store's record, before any push
    recorded = json.loads(pyb(root, "inspect", "--attestations", "att").stdout)
    assert recorded[1]["predicate"]["buildDefinition"]["externalParameters"]["configSource"]["path"] == "Containerfile"


def test_each_platform_of_a_list_has_its_attestation_manifest(work: dict[str, Any], registry: Any,
                                                               tmp_path: Path) -> None:
    """A multi-platform build (COPY only: no platform has to run here) pushed as one index: each
    image manifest followed by the attestation manifest about it."""
    root = _own_store(work, tmp_path)
    pyb(root, "bud", "-q", "--timestamp", EPOCH, "--platform", "linux/amd64,linux/arm64", "--sbom", "spdx",
        "--attest", "type=provenance,mode=min", "-t", "multi", str(work["ctx"]))
    ref = f"docker://{registry.host}/sbom/multi:1"
    pyb(root, "push", "multi", ref)
    entries = _raw(ref)["manifests"]
    images = [e for e in entries if e["platform"]["os"] != "unknown"]
    atts = [e for e in entries if e["platform"] == {"architecture": "unknown", "os": "unknown"}]
    assert sorted(e["platform"]["architecture"] for e in images) == ["amd64", "arm64"] and len(atts) == 2
    assert {a["annotations"]["vnd.docker.reference.digest"] for a in atts} == {e["digest"] for e in images}
    assert all(a["annotations"]["vnd.docker.reference.type"] == "attestation-manifest" for a in atts)
    listed = json.loads(pyb(root, "image", "inspect", "--attestations", ref).stdout)
    arch = {e["digest"]: e["platform"]["architecture"] for e in images}
    for a in listed:
        st = a["statement"]
        assert st["subject"][0]["digest"]["sha256"] == a["subject"].split(":")[1]
        assert st["subject"][0]["name"].endswith(f"platform=linux%2F{arch[a['subject']]}")
        if a["predicateType"] == "https://slsa.dev/provenance/v1":
            platform = st["predicate"]["buildDefinition"]["externalParameters"]["request"]["platform"]
            assert platform == f"linux/{arch[a['subject']]}"
    assert len(listed) == 4
    # sbom of the list picks the platform asked for: its document is about that image manifest
    arm = next(d for d, a in arch.items() if a == "arm64")
    doc = json.loads(pyb(root, "sbom", "--platform", "linux/arm64", "--format", "cyclonedx-json", ref).stdout)
    assert doc["metadata"]["component"]["version"] == arm


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    docroot = tmp_path_factory.mktemp("www")
    payload = b"served over http for the provenance\n"
    (docroot / "file.txt").write_bytes(payload)

    with serve_directory(docroot) as url:
        yield url, payload


def _provenance_build(work: dict[str, Any], root: Path, ctx: Path, url: str, mode: str) -> dict[str, Any]:
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Containerfile").write_text(f"FROM oci:{work['layout']}:base AS base\nARG GREETING\n"
                                       f"ADD {url}/file.txt /file.txt\nFROM base AS final\nLABEL x=1\n")
    secret = ctx.parent / "secret.txt"
    secret.write_text(SECRET_VALUE)
    pyb(root, "bud", "-q", "--timestamp", EPOCH, "--attest", f"type=provenance,mode={mode}", "--target", "final",
        "--build-arg", "GREETING=hi", "--secret", f"id=tok,src={secret}", "-t", "prov", str(ctx))
    listed = json.loads(pyb(root, "inspect", "--attestations", "prov").stdout)
    assert [a["predicateType"] for a in listed] == ["https://slsa.dev/provenance/v1"]
    blob = (root / "blobs/sha256" / listed[0]["digest"].split(":")[1]).read_bytes()
    assert SECRET_VALUE.encode() not in blob  # the secret's id only
    return listed[0]["predicate"]  # type: ignore[no-any-return]


def test_provenance_names_every_input_with_its_digest(work: dict[str, Any], server: tuple[str, bytes],
                                                      tmp_path: Path) -> None:
    url, payload = server
    root = _own_store(work, tmp_path)
    pred = _provenance_build(work, root, tmp_path / "ctx", url, "min")
    definition = pred["buildDefinition"]
    request = definition["externalParameters"]["request"]
    assert request["args"] == {"GREETING": "hi"}  # --timestamp, unlike SOURCE_DATE_EPOCH, sets no build arg
    assert request["secrets"] == ["tok"] and request["target"] == "final" and request["platform"] == "linux/amd64"
    cf = (tmp_path / "ctx/Containerfile").read_bytes()
    assert definition["externalParameters"]["configSource"] == {"path": "Containerfile",
                                                                "digest": {"sha256": hashlib.sha256(cf).hexdigest()}}
    base_manifest = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{work['layout']}:base"],
                                   capture_output=True, check=True).stdout
    deps = {d["uri"]: d["digest"]["sha256"] for d in definition["resolvedDependencies"]}
    assert deps == {f"oci:{work['layout']}:base?platform=linux%2Famd64": hashlib.sha256(base_manifest).hexdigest(),
                    f"{url}/file.txt": hashlib.sha256(payload).hexdigest()}
    meta = pred["runDetails"]["metadata"]
    assert meta["startedOn"] == meta["finishedOn"] == "2023-11-14T22:13:20Z"  # --timestamp fixes both
    assert "byproducts" not in pred["runDetails"]  # min: no Containerfile text
    maxed = _provenance_build(work, root, tmp_path / "ctx", url, "max")
    import base64

    assert base64.b64decode(maxed["runDetails"]["byproducts"][0]["content"]) == cf


def test_provenance_names_an_add_git_source_by_commit(work: dict[str, Any], tmp_path: Path) -> None:
    from tests.git_fixtures import git, git_daemon, make_repo

    repo = make_repo(tmp_path / "git")
    root = _own_store(work, tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with git_daemon(tmp_path / "git") as daemon:
        (ctx / "Containerfile").write_text(f"FROM scratch\nADD {daemon}/repo.git#v1 /v1\n")
        pyb(root, "bud", "-q", "--provenance", "true", "-t", "fromgit", str(ctx))
    [listed] = json.loads(pyb(root, "inspect", "--attestations", "fromgit").stdout)
    deps = listed["predicate"]["buildDefinition"]["resolvedDependencies"]
    v1 = git("rev-parse", "v1^{commit}", cwd=repo.work)
    assert deps == [{"uri": f"{daemon}/repo.git#v1", "digest": {"sha1": v1}}]


def test_same_build_on_two_stores_gives_byte_identical_attestations(work: dict[str, Any], tmp_path: Path) -> None:
    tops = []
    for n in (1, 2):
        root = tmp_path / f"root{n}"
        pyb(root, "bud", "-q", "--timestamp", EPOCH, "--sbom", "cyclonedx", "--attest", "type=provenance",
            "-t", "repro", str(work["ctx"]))
        pyb(root, "push", "repro", f"oci:{tmp_path / f'out{n}'}:r")
        tops.append(skopeo("inspect", "--raw", f"oci:{tmp_path / f'out{n}'}:r").stdout)
        att = json.loads(tops[-1])["manifests"][1]["digest"]
        assert (tmp_path / f"out{n}/blobs/sha256" / att.split(":")[1]).is_file()
    assert tops[0] == tops[1]
    listed = [json.loads(pyb(tmp_path / f"root{n}", "image", "inspect", "--attestations",
                             f"oci:{tmp_path / f'out{n}'}:r").stdout) for n in (1, 2)]
    assert listed[0] == listed[1] and len(listed[0]) == 2


def test_docker_archive_gets_the_image_and_a_note(work: dict[str, Any], tmp_path: Path) -> None:
    root = _own_store(work, tmp_path)
    pyb(root, "bud", "-q", "--timestamp", EPOCH, "--attest", "type=sbom", "-t", "da", str(work["ctx"]))
    out = pyb(root, "push", "da", f"docker-archive:{tmp_path / 'da.tar'}")
    assert "attestations are left out" in out.stderr
    assert json.loads(skopeo("inspect", f"docker-archive:{tmp_path / 'da.tar'}").stdout)["Os"] == "linux"


@pytest.mark.parametrize(("flags", "says"), [
    (["--sbom", "syft"], "runs no scanner image"),
    (["--sbom", "bogus"], "unknown"),
    (["--attest", "type=sbom,generator=docker/scout-sbom-indexer"], "runs no scanner image"),
    (["--attest", "type=nope"], "type must be sbom or provenance"),
    (["--provenance", "mode=huge"], "mode must be min or max"),
    (["--provenance", "mode=max,version=v0.2"], "SLSA provenance v1 only"),
    (["--sbom-output", "/tmp/x.json"], "need --sbom"),
    (["--sbom", "spdx", "--sbom-output", "/tmp/never.json", "--platform", "linux/amd64,linux/arm64"],
     "one platform's SBOM"),
])
def test_attestation_flag_mistakes_are_one_line(work: dict[str, Any], tmp_path: Path, flags: list[str],
                                                says: str) -> None:
    root = _own_store(work, tmp_path)
    before = pyb(root, "images", "--json").stdout
    proc = pyb(root, "bud", *flags, "-t", "bad", str(work["ctx"]), check=False)
    assert proc.returncode == 125
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], proc.stderr
    assert pyb(root, "images", "--json").stdout == before


def _packages(stdout: str) -> set[str]:
    return {c["purl"] for c in json.loads(stdout)["components"]}


@pytest.mark.usefixtures("authfile")
def test_sbom_reads_registries_with_their_flags(work: dict[str, Any], tmp_path: Path, basic_registry: Any,
                                                tls_registry: Any) -> None:
    """`sbom docker://...` with --creds or --authfile (a registry that wants a login) and
    --tls-verify with --cert-dir (one whose certificate a test CA signed)."""
    root = work["root"]
    want = _packages(pyb(root, "sbom", "--format", "cyclonedx-json", "tree").stdout)
    ref = f"docker://{basic_registry.host}/sbom/tree:1"
    pyb(root, "push", "--creds", "user:pass", "tree", ref)
    denied = pyb(root, "sbom", ref, check=False)
    assert denied.returncode == 125 and len(denied.stderr.strip().splitlines()) == 1
    assert _packages(pyb(root, "sbom", "--creds", "user:pass", "--format", "cyclonedx-json", ref).stdout) == want
    other = tmp_path / "other-auth.json"  # not $REGISTRY_AUTH_FILE (the authfile fixture's, empty)
    pyb(root, "login", "--authfile", str(other), "-u", "user", "-p", "pass", basic_registry.host)
    assert pyb(root, "sbom", ref, check=False).returncode == 125
    assert _packages(pyb(root, "sbom", "--authfile", str(other), "--format", "cyclonedx-json", ref).stdout) == want
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(tls_registry.ca_path, certs / "ca.crt")
    tls_ref = f"docker://{tls_registry.host}/sbom/tree:1"
    pyb(root, "push", "--tls-verify", "--cert-dir", str(certs), "tree", tls_ref)
    refused = pyb(root, "sbom", "--tls-verify", tls_ref, check=False)
    assert refused.returncode == 125 and "certificate" in refused.stderr.lower()
    got = pyb(root, "sbom", "--tls-verify", "--cert-dir", str(certs), "--format", "cyclonedx-json", tls_ref).stdout
    assert _packages(got) == want


def test_attest_and_verify_attestation_in_cosign_format(work: dict[str, Any], registry: Any,
                                                        tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    root, ref = _pushed(work, tmp_path, registry, "sbom/signed")
    sbom = tmp_path / "sbom.json"
    pyb(root, "sbom", "tree", "-o", str(sbom))
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("a", "b"):
        pyb(root, "generate-key-pair", "--output-key-prefix", str(keys / name))
    out = pyb(root, "attest", "--key", str(keys / "a.key"), "--predicate", str(sbom), "--type", "spdxjson",
              f"docker://{ref}")
    digest = out.stdout.split()[-1]
    # cosign's storage: the tag sha256-HEX.att, a DSSE envelope layer annotated with the predicate type
    att = _raw(f"docker://{registry.host}/sbom/signed:sha256-{digest[7:]}.att")
    [layer] = att["layers"]
    assert layer["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    assert layer["annotations"]["predicateType"] == "https://spdx.dev/Document"
    blob = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                          capture_output=True, check=True).stdout
    assert hashlib.sha256(blob).hexdigest() == digest[7:]
    # the envelope checked here by DSSE's rules, with the public key alone
    env_blob = subprocess.run(["skopeo", "copy", "--src-tls-verify=false",
                               f"docker://{registry.host}/sbom/signed:sha256-{digest[7:]}.att",
                               f"dir:{tmp_path / 'att'}"], capture_output=True, check=True)
    assert env_blob.returncode == 0
    envelope = json.loads((tmp_path / "att" / layer["digest"].split(":")[1]).read_bytes())
    body = base64.b64decode(envelope["payload"])
    pae = b"DSSEv1 %d %s %d %s" % (len(envelope["payloadType"]), envelope["payloadType"].encode(), len(body), body)
    pub = serialization.load_pem_public_key((keys / "a.pub").read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
    statement = json.loads(body)
    assert statement["subject"][0]["digest"]["sha256"] == digest[7:]
    assert statement["predicate"] == json.loads(sbom.read_text())
    ok = pyb(root, "verify-attestation", "--key", str(keys / "a.pub"), "--type", "spdxjson", ref)
    [line] = ok.stdout.splitlines()
    assert json.loads(line)["predicateType"] == "https://spdx.dev/Document"
    for args, why in (((str(keys / "b.pub"), "spdxjson"), "wrong key"), ((str(keys / "a.pub"), "cyclonedx"), "type")):
        bad = pyb(root, "verify-attestation", "--key", args[0], "--type", args[1], ref, check=False)
        assert bad.returncode == 125 and "no " in bad.stderr and "Traceback" not in bad.stderr, why
    # the tag moved to another image: the attestation of the old one does not cover it
    pyb(root, "bud", "-q", "--timestamp", EPOCH, "--label", "moved=1", "-t", "moved", str(work["ctx"]))
    pyb(root, "push", "moved", f"docker://{ref}")
    moved = pyb(root, "verify-attestation", "--key", str(keys / "a.pub"), "--type", "spdxjson", ref, check=False)
    assert moved.returncode == 125 and "verifies" in moved.stderr


def test_attest_with_an_encrypted_key_and_a_custom_predicate(work: dict[str, Any], registry: Any,
                                                             tmp_path: Path) -> None:
    root, ref = _pushed(work, tmp_path, registry, "sbom/custom")
    env = {"PW": "correct horse"}
    pyb(root, "generate-key-pair", "--password-env", "PW", "--output-key-prefix", str(tmp_path / "c"), env=env)
    note = tmp_path / "note.txt"
    note.write_text("reviewed by the release team\n")
    refused = pyb(root, "attest", "--key", str(tmp_path / "c.key"), "--predicate", str(note), f"docker://{ref}",
                  check=False)
    assert refused.returncode == 125 and "Traceback" not in refused.stderr  # encrypted: no password, no signature
    pyb(root, "attest", "--key", str(tmp_path / "c.key"), "--password-env", "PW", "--type", "custom",
        "--predicate", str(note), f"docker://{ref}", env=env)
    ok = pyb(root, "verify-attestation", "--key", str(tmp_path / "c.pub"), "--type", "custom", ref)
    statement = json.loads(ok.stdout)
    assert statement["predicateType"] == "https://cosign.sigstore.dev/attestation/v1"
    assert statement["predicate"]["Data"] == note.read_text()
