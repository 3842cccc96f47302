"""Pinning base images: every ``FROM image`` rewritten to ``image@sha256:...``.

Our own parser and graph decide which FROM lines name images (not stages, not
scratch, not ``$VARIABLES``); dockerfile-parse rewrites the lines, keeping the
file's formatting, comments and ``AS`` names as they were.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pybuild.errors import UserError


@dataclass(frozen=True)
class Pin:
    image: str  # as written in the FROM line
    pinned: str | None  # image@digest, or None when it could not be resolved
    reason: str = ""  # why it was not pinned


def plan(text: str, filename: str, resolve: Callable[[str], str | None]) -> list[Pin]:
    """The pins for each distinct FROM image of ``text`` (``resolve`` gives a digest or None)."""
    from pybuild.builder.containerfile import parse
    from pybuild.builder.containerfile.instructions import From, typed

    doc = parse(text, filename)
    names: set[str] = set()
    out: list[Pin] = []
    seen: set[str] = set()
    for instr in typed(doc):
        if not isinstance(instr, From):
            continue
        image = instr.image
        if image.lower() in names or image == "scratch" or image in seen:
            pass
        elif "$" in image:
            out.append(Pin(image, None, "uses a build argument"))
            seen.add(image)
        elif "@" in image:
            out.append(Pin(image, None, "already pinned"))
            seen.add(image)
        elif instr.platform:
            out.append(Pin(image, None, "has --platform: pin it by hand"))
            seen.add(image)
        else:
            digest = resolve(image)
            out.append(Pin(image, f"{image}@{digest}" if digest else None,
                           "" if digest else "no digest known (a local build, or not found)"))
            seen.add(image)
        if instr.stage_name:
            names.add(instr.stage_name.lower())
    return out


def rewrite(text: str, pins: list[Pin]) -> str:
    """``text`` with each pinned FROM image replaced (dockerfile-parse does the editing).

    Each FROM keeps its own text unless it is pinned: dockerfile-parse's parent_images
    list holds images with build arguments already substituted, so it is not written
    back as it is."""
    from dockerfile_parse import DockerfileParser
    from dockerfile_parse.parser import image_from

    mapping = {p.image: p.pinned for p in pins if p.pinned}
    buf = io.BytesIO(text.encode())
    parser = DockerfileParser(fileobj=buf)
    images = []
    for instr in parser.structure:
        if instr["instruction"] != "FROM":
            continue
        raw, _stage = image_from(instr["value"])
        if raw is None:
            continue
        flagged = instr["value"].lstrip().startswith("--")
        images.append(raw if flagged else mapping.get(raw, raw))
    parser.parent_images = images
    return buf.getvalue().decode()


def pin_file(path: Path, resolve: Callable[[str], str | None], *, write: bool = True) -> list[Pin]:
    try:
        text = path.read_text()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    pins = plan(text, str(path), resolve)
    if write and any(p.pinned for p in pins):
        from pybuild.builder.store import atomic_write

        atomic_write(path, rewrite(text, pins).encode(), mode=path.stat().st_mode & 0o7777)
    return pins
