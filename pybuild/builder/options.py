"""Build options, grouped per concern (what to build, how to run steps, what to write).

Plain dataclasses: the CLI fills them from flags, a library user from keywords. No generated
__eq__ or __repr__: nothing compares or prints an options object, and for their ~60 fields
those cost ~1.5 ms of every build's start (issue 19).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pybuild.builder.sandbox.resources import Resources
    from pybuild.builder.sandbox.security import SecurityOptions


def _no_limits() -> Resources:
    from pybuild.builder.sandbox.resources import Resources  # (a cached build loads no sandbox)

    return Resources()


@dataclass(eq=False, repr=False)
class RunOptions:
    """How RUN steps are isolated."""

    isolation: str | None = None  # chroot | oci; None: PYBUILD_ISOLATION or the default
    runtime: str | None = None  # oci isolation: the runtime binary (None: runc)
    # private | host | none | ns:PATH | slirp4netns[:OPTIONS]; "default": private where it can be set up, else host
    network: str = "default"
    allow: list[str] = field(default_factory=list)  # entitlements (BuildKit's --allow): network.host
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    security_opts: list[str] = field(default_factory=list)  # buildah's --security-opt values
    volumes: list[str] = field(default_factory=list)  # -v SRC:DST[:ro]
    add_hosts: list[str] = field(default_factory=list)  # NAME:IP
    no_hosts: bool = False  # --no-hosts: RUN sees the image's own /etc/hosts
    dns: list[str] = field(default_factory=list)  # --dns: nameservers for RUN's /etc/resolv.conf
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {src|env}
    # --ssh: id -> agent socket or key files (ssh_forward.parse_ssh makes it from the flag's values)
    ssh: dict[str, list[str]] = field(default_factory=dict)
    # --memory, --cpu-*, --ulimit, --shm-size, --device, --cgroupns (sandbox.resources.parse_resources)
    resources: Resources = field(default_factory=_no_limits)

    @property
    def security(self) -> SecurityOptions:
        """``security_opts`` read (seccomp profile, no-new-privileges); ConfigError for a bad one."""
        from pybuild.builder.sandbox.security import parse_security_opts

        return parse_security_opts(self.security_opts)

    @property
    def no_new_privileges(self) -> bool:
        return self.security.no_new_privileges


@dataclass(eq=False, repr=False)
class OutputOptions:
    """What the build writes and how."""

    tags: list[str] = field(default_factory=list)
    format: str = "oci"  # oci | docker
    compression: str | None = None  # the layers' compression when the image is pushed (gzip | zstd)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    squash: bool = False
    iidfile: str | None = None
    outputs: list[str] = field(default_factory=list)  # -o type=local,dest=DIR | type=tar,dest=F
    timestamp: int | None = None
    source_date_epoch: int | None = None
    rewrite_timestamp: bool = False
    unsetenv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # --env: set in the image's Env
    manifest: str | None = None  # --manifest: add the image to this list (made if absent)
    omit_history: bool = False  # --omit-history: the image's config carries no history

    def __post_init__(self) -> None:
        from pybuild.errors import ConfigError

        if self.compression not in (None, "gzip", "zstd"):
            raise ConfigError(f"invalid compression format {self.compression!r} (gzip or zstd)")
        if self.compression == "zstd" and self.format == "docker":
            raise ConfigError("zstd compression cannot be used with the docker format "
                              "(Docker v2s2 has no zstd layer type)")


@dataclass(eq=False, repr=False)
class AttestOptions:
    """Attestations of the final image (issue 17): made after the build, kept with the image,
    attached as BuildKit attaches them when it is pushed (builder/attest.py)."""

    sbom: str | None = None  # spdx-json | cyclonedx-json: what pybuild's catalogers find in it
    sbom_output: str | None = None  # the SBOM written to this file too (buildah's --sbom-output)
    sbom_purl_output: str | None = None  # its package URLs, one a line (buildah's --sbom-purl-output)
    provenance: str | None = None  # min | max: SLSA v1 provenance (builder/provenance.py)

    @property
    def wanted(self) -> bool:
        return bool(self.sbom or self.provenance)


@dataclass(eq=False, repr=False)
class BuildOptions:
    """Everything one build needs."""

    context: str = "."
    containerfile: str | None = None  # path; None: Containerfile or Dockerfile in the context
    containerfile_text: str | None = None  # given directly (``-f -``)
    # context "-": a tar of the context, or a Containerfile (then the context is empty), read
    # from this binary stream as `docker build -` takes stdin (build_input.py)
    context_stream: Any = None
    cpp_flags: list[str] = field(default_factory=list)  # --cpp-flag: for a Containerfile.in
    build_args: dict[str, str] = field(default_factory=dict)
    build_contexts: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    from_image: str | None = None  # --from: the image the first FROM builds on instead
    ignorefile: str | None = None
    layers: bool = True
    no_cache: bool = False
    explain_cache: bool = False  # say which input changed when a step misses the cache
    # remote step caches (builder/cache_spec.CacheLocation): --cache-from in order, --cache-to
    cache_from: list[Any] = field(default_factory=list)
    cache_to: list[Any] = field(default_factory=list)
    cache_ttl: float = 0.0  # --cache-ttl in seconds: older remote entries are not used (0: any)
    pull: str = "missing"  # always | missing | never
    platform: str | None = None  # OS/ARCH[/VARIANT], or several joined by commas (builder/multiplatform.py)
    all_platforms: bool = False  # --all-platforms: each platform the base's index lists
    jobs: int | None = None  # independent stages at once (default: 2)
    run: RunOptions = field(default_factory=RunOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    attest: AttestOptions = field(default_factory=AttestOptions)
    on_event: Any = None
    # how FROM images are pulled: RegistryOptions fields (tls_verify, creds, authfile, cert_dir)
    registry: dict[str, Any] = field(default_factory=dict)

    @property
    def multi_platform(self) -> bool:
        """Several images (--all-platforms, or --platform A,B): builder/multiplatform.py's job."""
        return bool(self.all_platforms or (self.platform and "," in self.platform))
