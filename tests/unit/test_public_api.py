"""The public surface of ``import pybuild``: exactly the names __all__ lists, each one
resolving, documented, and imported lazily (``import pybuild`` loads nothing else)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import pybuild

EXPECTED = [
    "__version__",
    # the one exception tree
    "PybuildError", "UserError", "ContainerfileError", "InvalidReference", "ImageNotFound", "ContainerNotFound",
    "ContextError", "UnsupportedError", "ConfigError", "IntegrityError", "DigestMismatch", "UnsafeContentError",
    "StoreError", "StoreVersionError", "LockTimeout", "BuildError", "StepFailed", "SandboxError",
    "RegistryError", "AuthError", "RegistryNotFound",
    # values
    "Event", "Digest", "Reference",
    # the store, images, working containers
    "Store", "Image", "WorkingContainer", "PruneReport", "default_root", "commit_format",
    # operations
    "build", "build_platforms", "writes_tar_to_stdout", "build_memo_recorder", "MultiPlatformResult", "pull", "push", "copy",
    "inspect", "format_inspect", "import_tarball", "sbom_of", "attestations",
    # rootless: the user namespace a non-root process builds in
    "enter_user_namespace", "exec_in_user_namespace", "is_rootless", "describe_rootless", "resolve_isolation",
    "choose_runtime",
    # the host: platforms, `version`, `info`
    "host_architecture", "platform_of", "system_info",
    # registries and transports without a store: login, tags, inspect
    "remote_spec", "login", "logout", "stored_username", "list_tags", "fetch_manifest", "fetch_config",
    "inspect_remote",
    # reading a Containerfile: graph, pin
    "BuildGraph", "build_graph", "find_containerfile", "pin",
    # manifest lists in the store
    "manifest_create", "manifest_add", "manifest_annotate", "manifest_remove", "manifest_delete",
    "manifest_exists", "manifest_inspect", "manifest_push",
    # cosign signatures and attestations
    "generate_key_pair", "sign", "verify", "attest", "verify_attestation",
]


def test_exported_names_are_exactly_these() -> None:
    assert pybuild.__all__ == EXPECTED
    assert dir(pybuild) == sorted(EXPECTED)


def test_every_exported_name_resolves_and_is_documented() -> None:
    for name in pybuild.__all__:
        value = getattr(pybuild, name)
        if name == "__version__":
            assert isinstance(value, str)
            continue
        assert inspect.getdoc(value), f"pybuild.{name} has no docstring"


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'workflow_internals'"):
        pybuild.workflow_internals  # noqa: B018


def test_errors_form_one_tree() -> None:
    errors = [getattr(pybuild, n) for n in pybuild.__all__ if n.endswith("Error") or n in (
        "ImageNotFound", "ContainerNotFound", "InvalidReference", "DigestMismatch", "StepFailed", "LockTimeout",
        "RegistryNotFound")]
    assert all(issubclass(e, pybuild.PybuildError) for e in errors)
    assert issubclass(pybuild.ContainerNotFound, pybuild.UserError)
    assert issubclass(pybuild.StepFailed, pybuild.BuildError)
    assert str(pybuild.ContainerNotFound("container not known: x", where="w")) == "w: container not known: x"


def test_import_is_lazy_and_quiet() -> None:
    code = ("import sys, pybuild; "
            "print(sorted(m for m in sys.modules if m.startswith('pybuild')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "['pybuild']" and proc.stderr == ""


def test_operations_are_typed() -> None:
    for name in ("build", "pull", "push", "copy", "inspect"):
        sig = inspect.signature(getattr(pybuild, name))
        assert sig.return_annotation is not inspect.Signature.empty, name
        for param in sig.parameters.values():
            if param.kind is not param.VAR_KEYWORD:
                assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"
    for method in ("from_image", "container", "containers", "prune"):
        assert inspect.getdoc(getattr(pybuild.Store, method)), method
    for method in ("run", "copy", "add", "config", "commit", "mount", "unmount", "remove", "rename", "inspect"):
        assert inspect.getdoc(getattr(pybuild.WorkingContainer, method)), method


def test_store_defaults_to_the_environment_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBUILD_ROOT", str(tmp_path / "r"))
    assert pybuild.default_root() == str(tmp_path / "r")
    store = pybuild.Store()
    assert store.root == tmp_path / "r" and store.images() == [] and store.containers() == []


def test_inspect_of_an_unknown_name_says_neither_is_there(tmp_path: Path) -> None:
    with pytest.raises(pybuild.ImageNotFound, match="^no image or container named nothing-here$"):
        pybuild.inspect("nothing-here", store=tmp_path / "store")
    with pytest.raises(pybuild.ContainerNotFound):
        pybuild.inspect("nothing-here", store=tmp_path / "store", type="container")


def test_the_calls_the_command_line_makes_are_typed() -> None:
    # each verb's one library call (issue 12): a library user gets the same, typed, documented call
    modules = ("pybuild.host", "pybuild.remote", "pybuild.containerfiles", "pybuild.manifests", "pybuild.signing")
    names = [n for n in pybuild.__all__
             if pybuild._EXPORTS.get(n) in modules and inspect.isfunction(getattr(pybuild, n))]
    assert len(names) >= 25
    for name in [*names, "format_inspect", "commit_format", "writes_tar_to_stdout", "choose_runtime"]:
        sig = inspect.signature(getattr(pybuild, name))
        assert sig.return_annotation is not inspect.Signature.empty, name
        for param in sig.parameters.values():
            if param.kind is not param.VAR_KEYWORD:
                assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"
