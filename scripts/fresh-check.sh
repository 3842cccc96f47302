#!/usr/bin/env bash
# The README's two commands on a fresh Debian 12 minbase, as a new user meets them:
#   bash scripts/setup.sh && bash examples/run-example.sh
#   bash scripts/test.sh
# A minbase root is debootstrapped once and cached under /var/tmp/pybuild-fresh; each run
# copies it, binds the copy on itself (runc refuses a root that is not a mount point), clones
# the COMMITTED tree of this checkout's branch into /work/pybuild (a file left uncommitted is
# caught) with ../shared copied beside it, and runs both commands there (pivot_root into it, not chroot), inside a
# private mount and PID namespace: every mount made for (or by) the run vanishes with it, and
# so does every process it started. Exit status 0 only when both commands pass.
# Usage: bash scripts/fresh-check.sh [--keep]   (--keep leaves the run's root for a look)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${PYBUILD_FRESH_CACHE:-/var/tmp/pybuild-fresh}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
shared=${PYBUILD_SHARED:-$repo/../shared}
keep=false
[ "${1:-}" = --keep ] && keep=true
if [ "$(id -u)" != 0 ]; then echo "fresh-check.sh: run as root" >&2; exit 1; fi
# what this script needs on the host: debootstrap (installed when missing), git, unshare
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
for tool in git unshare pivot_root findmnt; do
  command -v "$tool" >/dev/null || { echo "fresh-check.sh: $tool is missing on the host" >&2; exit 1; }
done
[ -d "$shared" ] || { echo "fresh-check.sh: $shared is absent (the difftest needs it)" >&2; exit 1; }

mkdir -p "$cache/apt-archives"
base=$cache/minbase-bookworm
if [ ! -d "$base" ]; then
  echo "== debootstrap --variant=minbase bookworm (cached in $base)"
  rm -rf --one-file-system "$base.partial"
  debootstrap --variant=minbase bookworm "$base.partial" "$mirror"
  mv "$base.partial" "$base"
fi

# what a run killed outright (SIGKILL: no trap) left: its mounts died with its namespace
for stale in "$cache"/run.*; do
  [ -d "$stale" ] || continue
  pid=$(cat "$stale/pid" 2>/dev/null || echo 0)
  if [ "$pid" != 0 ] && kill -0 "$pid" 2>/dev/null; then continue; fi
  findmnt -rn -o TARGET | grep -qF "$stale/" || rm -rf --one-file-system "$stale"
done
run=$(mktemp -d "$cache/run.XXXXXX")
echo $$ > "$run/pid"
root=$run/root
cleanup() {
  local status=$?
  # nothing should be mounted here (the mounts live in the run's own namespace); never
  # delete through a mount that is still there
  if findmnt -rn -o TARGET | grep -qF "$run/"; then
    findmnt -rn -o TARGET | grep -F "$run/" | sort -r | while read -r m; do umount -l "$m" || true; done
  fi
  if findmnt -rn -o TARGET | grep -qF "$run/"; then
    echo "fresh-check.sh: mounts remain under $run; not removing it" >&2
  elif [ "$keep" = true ]; then
    echo "fresh-check.sh: the run's root is kept in $root"
  else
    rm -rf --one-file-system "$run"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== copying the cached minbase root"
cp -a "$base" "$root"
branch=$(git -C "$repo" rev-parse --abbrev-ref HEAD)
commit=$(git -C "$repo" rev-parse HEAD)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "fresh-check.sh: note: uncommitted changes in $repo are not part of the check"
fi
mkdir -p "$root/work"
git clone -q --branch "$branch" "$repo" "$root/work/pybuild"
[ "$(git -C "$root/work/pybuild" rev-parse HEAD)" = "$commit" ] || { echo "clone is not at $commit" >&2; exit 1; }
cp -a "$shared" "$root/work/shared"
echo "== testing $branch at $commit"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts"
# the fresh root has no init: keep package scripts from starting services (docker-registry) on the host
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
# the network is the host's: carry its trust store over for pip's TLS (an egress proxy's CA)
env_pass=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/fresh-check-ca.crt"
  env_pass+=(PIP_CERT=/etc/fresh-check-ca.crt)
fi
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!v:-}" ] && env_pass+=("$v=${!v}")
done
mkdir -p "$run/tmp" && chmod 1777 "$run/tmp"

# Inside a new mount + PID namespace: mounts made here never reach the host, and when this
# shell (PID 1 there) ends, the kernel kills whatever the tests left running.
inner=$(cat <<'INNER'
set -euo pipefail
root=$1; run=$2; cache=$3; shift 3
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mountpoint -q "$root/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mount --bind "$run/tmp" "$root/tmp"
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
# pivot_root, not chroot: the kernel refuses a user namespace to a chrooted process, and the
# rootless tests make one (a fresh machine's root is its mount namespace's root)
cd "$root"
mkdir -p .fresh-check-oldroot
pivot_root . .fresh-check-oldroot
cd /
umount -l /.fresh-check-oldroot
rmdir /.fresh-check-oldroot
status=0
/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 TERM=dumb "$@" /bin/bash -c '
    cd /work/pybuild
    echo "== 1. bash scripts/setup.sh && bash examples/run-example.sh"
    if bash scripts/setup.sh && bash examples/run-example.sh; then one=0; else one=$?; fi
    echo "== 1. exit status $one"
    echo "== 2. bash scripts/test.sh"
    if bash scripts/test.sh; then two=0; else two=$?; fi
    echo "== 2. exit status $two"
    [ "$one" = 0 ] && [ "$two" = 0 ]' || status=$?
exit "$status"
INNER
)
status=0
unshare --mount --propagation private --pid --fork /bin/bash -c "$inner" fresh-check \
  "$root" "$run" "$cache" "${env_pass[@]}" || status=$?
if [ "$status" = 0 ]; then
  echo "== fresh-check: PASS (both README commands on a fresh Debian 12 minbase)"
else
  echo "== fresh-check: FAIL (exit status $status)"
fi
exit "$status"
