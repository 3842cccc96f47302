#!/usr/bin/env bash
# Set up pybuild on a fresh Debian 12 machine, as root: the reference tools and real
# components the tests use, a virtualenv with pybuild installed, and `pybuild` on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" != 0 ]; then echo "setup.sh: run as root" >&2; exit 1; fi
# Every external command the tests, examples and scripts call, audited against a Debian 12
# minbase (scripts/fresh-check.sh proves it): procps for ps/pgrep, gcc + libc6-dev for the
# static escape probe of the sandbox tests, containers-common for the default seccomp profile,
# mount for mount/umount, netavark (+ iptables) for RUN --network private, slirp4netns for
# --network slirp4netns (and rootless private networking), git for git sources (git daemon,
# git http-backend), openssh-server + openssh-client for RUN --mount=type=ssh (a test-started
# sshd on 127.0.0.1 and ssh-agent), cpp (with gcc) for Containerfile.in, golang-go to build the Go
# binary whose build info the SBOM tests read (offline: a module without downloads), rpm
# (rpmbuild + rpm) to make the real sqlite rpmdb the RPM cataloger test reads; docker.io for the
# benchmarks' BuildKit side (and the smoke test's three-way check), debootstrap for the
# benchmarks' real-app cases (their Debian 12 base, made once and cached). Rootless builds (the
# tests run pybuild as the user pybuild-test, made below): uidmap for newuidmap/newgidmap,
# fuse-overlayfs where the kernel refuses overlay in a user namespace, libcap2-bin for setcap (the
# pod test gives its newuidmap file capabilities, as a pod's image must).
apt_packages=(uidmap fuse-overlayfs libcap2-bin buildah podman skopeo umoci runc docker-registry busybox-static apache2-utils
              zstd bzip2 xz-utils time python3-venv python3-pip iproute2 procps mount
              gcc libc6-dev golang-github-containers-common libseccomp2 netavark iptables qemu-user-static
              slirp4netns git openssh-server openssh-client cpp golang-go rpm docker.io debootstrap)
# arm64 packages are downloaded (never installed) by the multi-platform tests: busybox-static:arm64
# is their arm64 base (tests/platform_helpers.py); qemu-user-static runs it through binfmt_misc
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  need_update=yes
fi
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ] || [ "${need_update:-no}" = yes ]; then
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# docker-registry's package starts a system service on :5000; the tests start their own.
systemctl disable --now docker-registry >/dev/null 2>&1 || true
# docker.io is BuildKit for the benchmarks' third side, which starts a dockerd of its own in a
# temp dir (benchmarks/dockerd.py): the package's system daemon (bridge, iptables) stays off.
if [[ " ${missing[*]:-} " == *" docker.io "* ]]; then
  systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
  service docker stop >/dev/null 2>&1 || true
  service containerd stop >/dev/null 2>&1 || true
fi
# So may openssh-server's sshd on :22 when this run installed it; the ssh tests start an sshd
# of their own (an sshd that was there before is someone's way in, and is left alone).
if [[ " ${missing[*]:-} " == *" openssh-server "* ]]; then
  systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
  service ssh stop >/dev/null 2>&1 || true
  update-rc.d ssh disable >/dev/null 2>&1 || true
fi
# The unprivileged CI user the rootless tests run pybuild as, with subordinate ids as Debian's
# useradd would give a new user (idempotent: made once, its ranges added once).
id pybuild-test >/dev/null 2>&1 || useradd -m pybuild-test
for f in /etc/subuid /etc/subgid; do
  grep -q '^pybuild-test:' "$f" 2>/dev/null || echo 'pybuild-test:100000:65536' >> "$f"
done
# Debian with udev makes both 0666 (/usr/lib/udev/rules.d/50-udev-default.rules); machines
# without udev leave them 0600, and then rootless slirp4netns (tun) and fuse-overlayfs (fuse)
# cannot open them. Same modes as a plain Debian 12.
for dev in /dev/fuse /dev/net/tun; do if [ -c "$dev" ]; then chmod 0666 "$dev"; fi; done
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'
ln -sf "$PWD/.venv/bin/pybuild" /usr/local/bin/pybuild
pybuild version
