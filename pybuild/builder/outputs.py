"""`bud -o/--output`: the built root filesystem written to a directory or a tar file.

``type=local,dest=DIR`` applies every layer onto DIR (whiteouts honoured);
``type=tar,dest=FILE`` writes that tree as one tar (``-`` is stdout, as is ``-o -``).
A multi-platform build writes each platform's tree in a directory of its own (linux_amd64/,
linux_arm64/), as BuildKit does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pybuild.builder.store import Image, Store, remove_tree
from pybuild.errors import ConfigError


def parse_output(spec: str) -> tuple[str, str]:
    """(type, dest) of a ``-o`` value: ``-`` is a tar on stdout, a bare path a directory (buildah)."""
    if spec.strip() == "-":
        return "tar", "-"
    fields: dict[str, str] = {}
    for item in spec.split(","):
        k, sep, v = item.partition("=")
        if not sep:
            if "," not in spec and "=" not in spec:
                return "local", spec  # -o DIR, as buildah accepts
            raise ConfigError(f"invalid --output {spec!r} (use type=local,dest=DIR or type=tar,dest=FILE)")
        fields[k.strip()] = v.strip()
    kind = fields.get("type", "local")
    dest = fields.get("dest", "")
    if kind not in ("local", "tar") or not dest:
        raise ConfigError(f"invalid --output {spec!r} (use type=local,dest=DIR or type=tar,dest=FILE)")
    return kind, dest


def export(store: Store, image: Image, spec: str, *, on_event: Any = None) -> None:
    """Write ``image``'s root filesystem where ``spec`` says."""
    export_platforms(store, {"": image}, spec)


def platform_dir(platform: str) -> str:
    """BuildKit's directory for one platform of a multi-platform output: linux/arm/v7 -> linux_arm_v7."""
    return platform.replace("/", "_")


def export_platforms(store: Store, images: dict[str, Image], spec: str) -> None:
    """Write root filesystems where ``spec`` says: one image (key ``""``) at the destination
    itself; several (keyed by platform) each in a directory of its own named by
    :func:`platform_dir`, as BuildKit lays out a multi-platform local or tar output."""
    from pybuild.oci.layer import write_layer

    kind, dest = parse_output(spec)
    staging = store.scratch_dir("output")
    try:
        top = Path(dest) if kind == "local" else staging / "rootfs"
        top.mkdir(parents=True, exist_ok=True)
        for platform, image in images.items():
            tree = top / platform_dir(platform) if platform else top
            tree.mkdir(parents=True, exist_ok=True)
            _apply_image(store, image, tree, staging)
        if kind == "tar":
            if dest == "-":
                write_layer(top, sys.stdout.buffer, compression="none")
            else:
                from pybuild.oci.layout import atomic_file

                with atomic_file(dest) as out:
                    write_layer(top, out, compression="none")
    finally:
        remove_tree(staging)


def _apply_image(store: Store, image: Image, tree: Path, staging: Path) -> None:
    """Every layer of ``image`` applied onto ``tree`` (whiteouts honoured)."""
    from pybuild.oci.layer import apply_layer, write_layer

    for i in range(len(image.layers)):
        layer_dir = store.ensure_layer(image, i)
        tmp = staging / "layer.tar"
        with open(tmp, "wb") as out:
            write_layer(layer_dir, out, compression="none", overlay_upper=True, **_opts(store, image.layers[i]))
        with open(tmp, "rb") as f:
            apply_layer(f, tree, whiteouts="apply")
        os.unlink(tmp)


def _opts(store: Store, diff_id: str) -> dict[str, Any]:
    return dict(store.layer_info(diff_id).tar_options.writer_options())
