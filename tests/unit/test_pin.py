"""Pinning FROM images: which lines are pinned, and that nothing else in the file changes."""

from __future__ import annotations

from pybuild.builder.pin import plan, rewrite

TEXT = """\
# syntax=docker/dockerfile:1
ARG BASE=alpine:3
FROM busybox:1.36 AS build
RUN echo hi
FROM build AS again
FROM --platform=linux/amd64 debian:12 AS plat
FROM scratch
FROM $BASE
FROM busybox:1.36
FROM quay.io/x/y@sha256:0000000000000000000000000000000000000000000000000000000000000000
"""
DIGEST = "sha256:" + "ab" * 32


def resolve(image: str) -> str | None:
    return DIGEST if image.startswith("busybox") or image.startswith("debian") else None


def test_plan_pins_images_only() -> None:
    pins = {p.image: p for p in plan(TEXT, "Containerfile", resolve)}
    assert pins["busybox:1.36"].pinned == f"busybox:1.36@{DIGEST}"
    assert pins["$BASE"].pinned is None and "build argument" in pins["$BASE"].reason
    assert pins["debian:12"].pinned is None and "--platform" in pins["debian:12"].reason
    assert "build" not in pins and "scratch" not in pins
    assert pins["quay.io/x/y@sha256:" + "0" * 64].reason == "already pinned"


def test_rewrite_changes_only_pinned_lines() -> None:
    out = rewrite(TEXT, plan(TEXT, "Containerfile", resolve))
    before, after = TEXT.splitlines(), out.splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("FROM busybox:1.36 AS build", f"FROM busybox:1.36@{DIGEST} AS build"),
                       ("FROM busybox:1.36", f"FROM busybox:1.36@{DIGEST}")]


def test_unresolvable_images_leave_the_file_unchanged() -> None:
    assert rewrite(TEXT, plan(TEXT, "Containerfile", lambda image: None)) == TEXT
