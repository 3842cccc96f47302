#!/usr/bin/env python3
"""The example app built through the library (``import pybuild``): the same image as
examples/Containerfiles/app/Containerfile and examples/build.sh.

Needs a ``busybox`` image in the store (examples/run-example.sh makes one).
Usage: python3 examples/build.py [--root DIR] [IMAGE]
Each progress event is printed as one line: ``KIND: message``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pybuild

APP = Path(__file__).resolve().parent / "Containerfiles" / "app"


def show(event: pybuild.Event) -> None:
    """The progress callback: the library reports, this script decides how to show it."""
    text = event.message if event.kind != "output" else event.message.rstrip("\n")
    print(f"{event.kind}: {text}", flush=True)


def build_app(store: pybuild.Store, image: str = "app") -> pybuild.Image:
    ctr = store.from_image("busybox", on_event=show)
    try:
        ctr.run(["sh", "-c", "mkdir -p /var/lib/app && echo built > /var/lib/app/stamp"])
        ctr.copy(APP / "app", "/app")
        ctr.config(env={"APP_HOME": "/app", "GREETING": "hello"},
                   labels={"org.opencontainers.image.title": "app"},
                   workdir="/app", ports=["8080"], cmd=["/app/run"])
        return ctr.commit(image, rm=True)
    except BaseException:
        ctr.remove()
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="store root (default: $PYBUILD_ROOT or pybuild's default)")
    parser.add_argument("image", nargs="?", default="app")
    args = parser.parse_args(argv)
    try:
        image = build_app(pybuild.Store(args.root), args.image)
    except pybuild.PybuildError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    print(image.id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
