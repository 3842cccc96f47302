"""The Go types behind ``buildah inspect --format``, so the same templates work on pybuild's.

buildah formats a ``BuilderInfo`` whose OCIv1 is image-spec's ``v1.Image`` and whose Docker
is its own ``docker.V2Image``: templates name those structs' Go fields, in this order
(which is how a whole struct prints), while the data is the JSON below them. pybuild adds
``Names``, ``ManifestType`` and ``Layers``.
"""

from __future__ import annotations

from pybuild.gotemplate import (
    BOOL,
    DIGEST,
    DURATION,
    EMPTY,
    INT,
    STRING,
    TIME,
    Field,
    Map,
    Ptr,
    Slice,
    Struct,
)

STRINGS = Slice(STRING)
SET = Map(EMPTY)  # map[string]struct{}: ExposedPorts, Volumes
LABELS = Map(STRING)


def _same(*names_types: tuple[str, object]) -> tuple[Field, ...]:
    """Fields whose JSON key is their Go name (Docker's container config)."""
    return tuple(Field(n, n, t) for n, t in names_types)  # type: ignore[arg-type]


OCI_CONFIG = Struct("v1.ImageConfig", _same(
    ("User", STRING), ("ExposedPorts", SET), ("Env", STRINGS), ("Entrypoint", STRINGS), ("Cmd", STRINGS),
    ("Volumes", SET), ("WorkingDir", STRING), ("Labels", LABELS), ("StopSignal", STRING), ("ArgsEscaped", BOOL)))

OCI_ROOTFS = Struct("v1.RootFS", (Field("Type", "type", STRING), Field("DiffIDs", "diff_ids", Slice(DIGEST))))

OCI_HISTORY = Struct("v1.History", (
    Field("Created", "created", Ptr(TIME)), Field("CreatedBy", "created_by", STRING),
    Field("Author", "author", STRING), Field("Comment", "comment", STRING), Field("EmptyLayer", "empty_layer", BOOL)))

OCI_IMAGE = Struct("v1.Image", (
    Field("Created", "created", Ptr(TIME)), Field("Author", "author", STRING),
    Field("Architecture", "architecture", STRING), Field("Variant", "variant", STRING), Field("OS", "os", STRING),
    Field("OSVersion", "os.version", STRING), Field("OSFeatures", "os.features", STRINGS),
    Field("Config", "config", OCI_CONFIG), Field("RootFS", "rootfs", OCI_ROOTFS),
    Field("History", "history", Slice(OCI_HISTORY))))

DOCKER_HEALTH = Struct("docker.HealthConfig", _same(
    ("Test", STRINGS), ("Interval", DURATION), ("Timeout", DURATION), ("StartPeriod", DURATION), ("Retries", INT)))

DOCKER_CONFIG = Struct("docker.Config", _same(
    ("Hostname", STRING), ("Domainname", STRING), ("User", STRING), ("AttachStdin", BOOL), ("AttachStdout", BOOL),
    ("AttachStderr", BOOL), ("ExposedPorts", SET), ("Tty", BOOL), ("OpenStdin", BOOL), ("StdinOnce", BOOL),
    ("Env", STRINGS), ("Cmd", STRINGS), ("Healthcheck", Ptr(DOCKER_HEALTH)), ("ArgsEscaped", BOOL),
    ("Image", STRING), ("Volumes", SET), ("WorkingDir", STRING), ("Entrypoint", STRINGS),
    ("NetworkDisabled", BOOL), ("MacAddress", STRING), ("OnBuild", STRINGS), ("Labels", LABELS),
    ("StopSignal", STRING), ("StopTimeout", Ptr(INT)), ("Shell", STRINGS)))

DOCKER_HISTORY = Struct("docker.V2S2History", (
    Field("Created", "created", TIME), Field("Author", "author", STRING), Field("CreatedBy", "created_by", STRING),
    Field("Comment", "comment", STRING), Field("EmptyLayer", "empty_layer", BOOL)))

DOCKER_V1_IMAGE = Struct("docker.V1Image", (
    Field("ID", "id", STRING), Field("Parent", "parent", STRING), Field("Comment", "comment", STRING),
    Field("Created", "created", TIME), Field("Container", "container", STRING),
    Field("ContainerConfig", "container_config", DOCKER_CONFIG), Field("DockerVersion", "docker_version", STRING),
    Field("Author", "author", STRING), Field("Config", "config", Ptr(DOCKER_CONFIG)),
    Field("Architecture", "architecture", STRING), Field("Variant", "variant", STRING), Field("OS", "os", STRING),
    Field("Size", "Size", INT)))

DOCKER_IMAGE = Struct("docker.V2Image", (
    Field("V1Image", None, DOCKER_V1_IMAGE), Field("Parent", "parent", DIGEST),
    Field("RootFS", "rootfs", Ptr(Struct("docker.V2S2RootFS", OCI_ROOTFS.fields))),
    Field("History", "history", Slice(DOCKER_HISTORY)), Field("OSVersion", "os.version", STRING),
    Field("OSFeatures", "os.features", STRINGS)))

BUILDER_INFO = Struct("pybuild.BuilderInfo", (
    *_same(("Type", STRING), ("FromImage", STRING), ("FromImageID", STRING), ("FromImageDigest", STRING),
           ("Names", STRINGS), ("Config", STRING), ("Manifest", STRING), ("ManifestType", STRING),
           ("Container", STRING), ("ContainerID", STRING), ("MountPoint", STRING)),
    Field("OCIv1", "OCIv1", OCI_IMAGE), Field("Docker", "Docker", DOCKER_IMAGE),
    *_same(("Layers", STRINGS), ("History", Slice(OCI_HISTORY)), ("ImageCreatedBy", STRING),
           ("ImageAnnotations", LABELS))))
