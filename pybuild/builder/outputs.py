"""`bud -o/--output`: the built root filesystem written to a directory or a tar file.

``type=local,dest=DIR`` applies every layer onto DIR (whiteouts honoured);
``type=tar,dest=FILE`` writes that tree as one tar (``-`` is stdout, as is ``-o -``).
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
    from pybuild.oci.layer import apply_layer, write_layer

    kind, dest = parse_output(spec)
    staging = store.scratch_dir("output")
    try:
        tree = Path(dest) if kind == "local" else staging / "rootfs"
        tree.mkdir(parents=True, exist_ok=True)
        for i in range(len(image.layers)):
            layer_dir = store.ensure_layer(image, i)
            tmp = staging / "layer.tar"
            with open(tmp, "wb") as out:
                write_layer(layer_dir, out, compression="none", overlay_upper=True,
                            **_opts(store, image.layers[i]))
            with open(tmp, "rb") as f:
                apply_layer(f, tree, whiteouts="apply")
            os.unlink(tmp)
        if kind == "tar":
            if dest == "-":
                write_layer(tree, sys.stdout.buffer, compression="none")
            else:
                from pybuild.oci.layout import atomic_file

                with atomic_file(dest) as out:
                    write_layer(tree, out, compression="none")
    finally:
        remove_tree(staging)


def _opts(store: Store, diff_id: str) -> dict[str, Any]:
    opts = store.layer_info(diff_id).get("tar_options", {})
    return {k: v for k, v in opts.items() if k in ("timestamp", "clamp_mtime")}
