"""pybuild: a buildah-style container image builder, as a library and a CLI.

The public surface is what ``__all__`` lists; everything else is private and
may change. Names are imported lazily, so ``import pybuild`` costs almost
nothing and has no side effects.

    import pybuild
    store = pybuild.Store("/var/lib/pybuild")
    image = pybuild.build(".", tags=["myapp"], store=store, on_event=print)

    ctr = store.from_image("busybox")          # buildah from
    ctr.run(["sh", "-c", "echo hi > /hi"])      # buildah run
    ctr.copy("./app", "/app")                   # buildah copy
    ctr.config(cmd=["/app/run"])                # buildah config
    image = ctr.commit("myapp", rm=True)        # buildah commit
"""

from __future__ import annotations

# no typing at run time (~8 ms of every command's start, the build memo's fast path included):
# mypy reads this name as typing's
TYPE_CHECKING = False

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "PybuildError": "pybuild.errors",
    "UserError": "pybuild.errors",
    "ContainerfileError": "pybuild.errors",
    "InvalidReference": "pybuild.errors",
    "ImageNotFound": "pybuild.errors",
    "ContainerNotFound": "pybuild.errors",
    "ContextError": "pybuild.errors",
    "UnsupportedError": "pybuild.errors",
    "ConfigError": "pybuild.errors",
    "IntegrityError": "pybuild.errors",
    "DigestMismatch": "pybuild.errors",
    "UnsafeContentError": "pybuild.errors",
    "StoreError": "pybuild.errors",
    "StoreVersionError": "pybuild.errors",
    "LockTimeout": "pybuild.errors",
    "BuildError": "pybuild.errors",
    "StepFailed": "pybuild.errors",
    "SandboxError": "pybuild.errors",
    "RegistryError": "pybuild.errors",
    "AuthError": "pybuild.errors",
    "RegistryNotFound": "pybuild.errors",
    # events
    "Event": "pybuild.events",
    # references and digests
    "Digest": "pybuild.oci.digest",
    "Reference": "pybuild.oci.reference",
    # the store, images and working containers
    "Store": "pybuild.api",
    "Image": "pybuild.api",
    "WorkingContainer": "pybuild.api",
    "PruneReport": "pybuild.builder.workflow",
    "default_root": "pybuild.api",
    "commit_format": "pybuild.api",
    # operations
    "build": "pybuild.api",
    "build_platforms": "pybuild.api",
    "writes_tar_to_stdout": "pybuild.builder.build_request",
    "build_memo_recorder": "pybuild.builder.build_memo",
    "MultiPlatformResult": "pybuild.builder.multiplatform",
    "pull": "pybuild.api",
    "push": "pybuild.api",
    "copy": "pybuild.api",
    "inspect": "pybuild.api",
    "format_inspect": "pybuild.api",
    "import_tarball": "pybuild.api",
    "sbom_of": "pybuild.api",
    "attestations": "pybuild.api",
    # rootless
    "enter_user_namespace": "pybuild.builder.sandbox.userns",
    "exec_in_user_namespace": "pybuild.builder.sandbox.userns",
    "is_rootless": "pybuild.rootless",
    "describe_rootless": "pybuild.rootless",
    "resolve_isolation": "pybuild.builder.sandbox",
    "choose_runtime": "pybuild.builder.sandbox",
    # the host: platforms, `version`, `info`
    "host_architecture": "pybuild.host",
    "platform_of": "pybuild.host",
    "system_info": "pybuild.host",
    # registries and transports without a store: login, tags, inspect
    "remote_spec": "pybuild.remote",
    "login": "pybuild.remote",
    "logout": "pybuild.remote",
    "stored_username": "pybuild.remote",
    "list_tags": "pybuild.remote",
    "fetch_manifest": "pybuild.remote",
    "fetch_config": "pybuild.remote",
    "inspect_remote": "pybuild.remote",
    # reading a Containerfile: graph, pin
    "BuildGraph": "pybuild.containerfiles",
    "build_graph": "pybuild.containerfiles",
    "find_containerfile": "pybuild.containerfiles",
    "pin": "pybuild.containerfiles",
    # manifest lists in the store
    "manifest_create": "pybuild.manifests",
    "manifest_add": "pybuild.manifests",
    "manifest_annotate": "pybuild.manifests",
    "manifest_remove": "pybuild.manifests",
    "manifest_delete": "pybuild.manifests",
    "manifest_exists": "pybuild.manifests",
    "manifest_inspect": "pybuild.manifests",
    "manifest_push": "pybuild.manifests",
    # cosign signatures and attestations
    "generate_key_pair": "pybuild.signing",
    "sign": "pybuild.signing",
    "verify": "pybuild.signing",
    "attest": "pybuild.signing",
    "verify_attestation": "pybuild.signing",
}

__all__ = [
    "__version__",
    "PybuildError",
    "UserError",
    "ContainerfileError",
    "InvalidReference",
    "ImageNotFound",
    "ContainerNotFound",
    "ContextError",
    "UnsupportedError",
    "ConfigError",
    "IntegrityError",
    "DigestMismatch",
    "UnsafeContentError",
    "StoreError",
    "StoreVersionError",
    "LockTimeout",
    "BuildError",
    "StepFailed",
    "SandboxError",
    "RegistryError",
    "AuthError",
    "RegistryNotFound",
    "Event",
    "Digest",
    "Reference",
    "Store",
    "Image",
    "WorkingContainer",
    "PruneReport",
    "default_root",
    "commit_format",
    "build",
    "build_platforms",
    "writes_tar_to_stdout",
    "build_memo_recorder",
    "MultiPlatformResult",
    "pull",
    "push",
    "copy",
    "inspect",
    "format_inspect",
    "import_tarball",
    "sbom_of",
    "attestations",
    "enter_user_namespace",
    "exec_in_user_namespace",
    "is_rootless",
    "describe_rootless",
    "resolve_isolation",
    "choose_runtime",
    "host_architecture",
    "platform_of",
    "system_info",
    "remote_spec",
    "login",
    "logout",
    "stored_username",
    "list_tags",
    "fetch_manifest",
    "fetch_config",
    "inspect_remote",
    "BuildGraph",
    "build_graph",
    "find_containerfile",
    "pin",
    "manifest_create",
    "manifest_add",
    "manifest_annotate",
    "manifest_remove",
    "manifest_delete",
    "manifest_exists",
    "manifest_inspect",
    "manifest_push",
    "generate_key_pair",
    "sign",
    "verify",
    "attest",
    "verify_attestation",
]

if TYPE_CHECKING:
    from typing import Any

    from pybuild.api import (
        Image,
        Store,
        WorkingContainer,
        attestations,
        build,
        build_platforms,
        commit_format,
        copy,
        default_root,
        format_inspect,
        import_tarball,
        inspect,
        pull,
        push,
        sbom_of,
    )
    from pybuild.builder.build_memo import build_memo_recorder
    from pybuild.builder.build_request import writes_tar_to_stdout
    from pybuild.builder.multiplatform import MultiPlatformResult
    from pybuild.builder.sandbox import choose_runtime, resolve_isolation
    from pybuild.builder.sandbox.userns import enter_user_namespace, exec_in_user_namespace
    from pybuild.builder.workflow import PruneReport
    from pybuild.containerfiles import BuildGraph, build_graph, find_containerfile, pin
    from pybuild.errors import (
        AuthError,
        BuildError,
        ConfigError,
        ContainerfileError,
        ContainerNotFound,
        ContextError,
        DigestMismatch,
        ImageNotFound,
        IntegrityError,
        InvalidReference,
        LockTimeout,
        PybuildError,
        RegistryError,
        RegistryNotFound,
        SandboxError,
        StepFailed,
        StoreError,
        StoreVersionError,
        UnsafeContentError,
        UnsupportedError,
        UserError,
    )
    from pybuild.events import Event
    from pybuild.host import host_architecture, platform_of, system_info
    from pybuild.manifests import (
        manifest_add,
        manifest_annotate,
        manifest_create,
        manifest_delete,
        manifest_exists,
        manifest_inspect,
        manifest_push,
        manifest_remove,
    )
    from pybuild.oci.digest import Digest
    from pybuild.oci.reference import Reference
    from pybuild.remote import (
        fetch_config,
        fetch_manifest,
        inspect_remote,
        list_tags,
        login,
        logout,
        remote_spec,
        stored_username,
    )
    from pybuild.rootless import describe_rootless, is_rootless
    from pybuild.signing import attest, generate_key_pair, sign, verify, verify_attestation


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pybuild' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
