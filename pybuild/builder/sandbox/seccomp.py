"""Seccomp for RUN steps: containers-common's profile, resolved as podman does, compiled by libseccomp.

A profile file is in containers-common's format (``/usr/share/containers/seccomp.json``):
``archMap`` and ``syscalls`` entries with ``includes``/``excludes`` by architecture,
capability and kernel version. :func:`resolve` turns it into the runtime-spec's
``linux.seccomp`` for the host architecture and the step's capabilities (podman's
``setupSeccomp``): the oci isolation hands that to runc. The chroot isolation compiles
the same document to classic BPF with libseccomp2 through ctypes (``seccomp_init``,
``seccomp_arch_add``, ``seccomp_rule_add_array`` with argument comparisons,
``seccomp_export_bpf``), as runc's libcontainer does, in the parent; the forked child
only installs the finished program (:func:`install`, one prctl), so nothing between
fork and execve allocates or loads a library.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import platform
import threading
from typing import Any

from pybuild.builder.sandbox import linux as L
from pybuild.errors import ConfigError, SandboxError

# buildah's order: an administrator's override, then the distribution's default
DEFAULT_PROFILE_PATHS = ("/etc/containers/seccomp.json", "/usr/share/containers/seccomp.json")

# libseccomp-golang's architecture names (what "includes.arches" uses) by machine, and their SCMP_ARCH_ tokens
_GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "x86",
            "i386": "x86", "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
            "riscv64": "riscv64", "mips64": "mips64", "mips64el": "mips64le"}
_NATIVE_TO_SECCOMP = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "x86": "SCMP_ARCH_X86",
                      "arm": "SCMP_ARCH_ARM", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
                      "riscv64": "SCMP_ARCH_RISCV64", "mips64": "SCMP_ARCH_MIPS64",
                      "mips64le": "SCMP_ARCH_MIPSEL64"}

_ACTIONS = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
            "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_ERRNO": 0x00050000,
            "SCMP_ACT_TRACE": 0x7FF00000, "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000}
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def host_arch() -> str:
    """The host's architecture as Go (and so the profile's ``arches``) spells it."""
    machine = platform.machine()
    return _GO_ARCH.get(machine, machine)


def find_default_profile() -> str | None:
    """The profile buildah would use by default, or None (then steps run unconfined, as in buildah)."""
    return next((p for p in DEFAULT_PROFILE_PATHS if os.path.isfile(p)), None)


def load_profile(path: str) -> dict[str, Any]:
    """Read and check a profile file; ConfigError saying what is wrong, in one line."""
    where = f"--security-opt seccomp={path}"
    try:
        with open(path, "rb") as f:
            raw = f.read(4 << 20)
    except OSError as e:
        raise ConfigError(f"cannot read the seccomp profile: {e.strerror}", where=where) from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"the seccomp profile is not JSON: {e}", where=where) from None
    if not isinstance(doc, dict):
        raise ConfigError("the seccomp profile is not a JSON object", where=where)
    try:
        check(resolve(doc, []))
    except ConfigError as e:
        raise ConfigError(e.message, where=where) from None
    return doc


@functools.lru_cache(maxsize=8)
def _cached_profile(path: str, _mtime_ns: int, _size: int) -> str:
    return json.dumps(load_profile(path))


def profile_document(path: str) -> dict[str, Any]:
    """``load_profile`` memoised by the file's identity (read once per build, not per step)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ConfigError(f"cannot read the seccomp profile: {e.strerror}", where=f"--security-opt seccomp={path}") \
            from None
    doc: dict[str, Any] = json.loads(_cached_profile(path, st.st_mtime_ns, st.st_size))
    return doc


def step_profile(seccomp: str, capabilities: list[str]) -> dict[str, Any] | None:
    """The resolved filter a step runs under (``RunSpec.seccomp``), or None when unconfined."""
    if seccomp == "unconfined":
        return None
    path = find_default_profile() if seccomp == "default" else seccomp
    if path is None:
        return None
    return resolve(profile_document(path), capabilities)


def _kernel_at_least(version: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        out = []
        for p in v.split("-")[0].split(".")[:3]:
            digits = "".join(ch for ch in p if ch.isdigit())
            out.append(int(digits or 0))
        return tuple(out)

    return parts(platform.release()) >= parts(version)


def resolve(profile: dict[str, Any], capabilities: list[str], arch: str | None = None) -> dict[str, Any]:
    """The runtime-spec ``linux.seccomp`` for ``arch`` (default: the host's) and a step whose
    bounding set is ``capabilities``: podman's rules for includes/excludes."""
    arch = arch or host_arch()
    if profile.get("architectures") and profile.get("archMap"):
        raise ConfigError("the seccomp profile has both 'architectures' and 'archMap'")
    spec: dict[str, Any] = {"defaultAction": profile.get("defaultAction") or "SCMP_ACT_ERRNO"}
    if profile.get("defaultErrnoRet") is not None:
        spec["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches: list[str] = list(profile.get("architectures") or [])
    native = _NATIVE_TO_SECCOMP.get(arch)
    for entry in profile.get("archMap") or []:
        if native and entry.get("architecture") == native:
            arches = [native, *(entry.get("subArchitectures") or [])]
            break
    if arches:
        spec["architectures"] = arches
    if profile.get("flags"):
        spec["flags"] = list(profile["flags"])
    caps = set(capabilities)
    syscalls: list[dict[str, Any]] = []
    for call in profile.get("syscalls") or []:
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if arch in (exc.get("arches") or []):
            continue
        if any(c in caps for c in exc.get("caps") or []):
            continue
        if exc.get("minKernel") and _kernel_at_least(str(exc["minKernel"])):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if any(c not in caps for c in inc.get("caps") or []):
            continue
        if inc.get("minKernel") and not _kernel_at_least(str(inc["minKernel"])):
            continue
        if call.get("name") and call.get("names"):
            raise ConfigError("a seccomp profile entry has both 'name' and 'names'")
        names = [call["name"]] if call.get("name") else list(call.get("names") or [])
        if not names:
            continue
        rule: dict[str, Any] = {"names": names, "action": call.get("action")}
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            rule["args"] = [{"index": a.get("index", 0), "value": a.get("value", 0),
                             "valueTwo": a.get("valueTwo", 0), "op": a.get("op")} for a in call["args"]]
        syscalls.append(rule)
    spec["syscalls"] = syscalls
    return spec


def _action(name: Any, errno_ret: Any) -> int:
    if name not in _ACTIONS:
        raise ConfigError(f"seccomp action {name!r} is not supported "
                          f"({', '.join(sorted(_ACTIONS))})")
    value = _ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        code = errno.EPERM if errno_ret is None else errno_ret
        if not isinstance(code, int) or not 0 <= code <= 0xFFFF:
            raise ConfigError(f"seccomp errnoRet {errno_ret!r} is not a number from 0 to 65535")
        value |= code
    return value


def check(spec: dict[str, Any]) -> None:
    """Refuse what the filter cannot express, before any step runs (ConfigError)."""
    _action(spec["defaultAction"], spec.get("defaultErrnoRet"))
    for rule in spec["syscalls"]:
        _action(rule["action"], rule.get("errnoRet"))
        for a in rule.get("args") or []:
            if a["op"] not in _OPS:
                raise ConfigError(f"seccomp comparison {a['op']!r} is not supported ({', '.join(sorted(_OPS))})")
            if not isinstance(a["index"], int) or not 0 <= a["index"] <= 5:
                raise ConfigError(f"seccomp argument index {a['index']!r} is not 0 to 5")
            for k in ("value", "valueTwo"):
                if not isinstance(a[k], int) or not 0 <= a[k] < 1 << 64:
                    raise ConfigError(f"seccomp argument {k} {a[k]!r} is not a 64-bit unsigned number")


# ---------------------------------------------------------------- compiling with libseccomp


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Program:
    """A compiled filter, ready for :func:`install` in a forked child (no allocation there)."""

    def __init__(self, bpf: bytes) -> None:
        self.bpf = bpf
        self._buffer = ctypes.create_string_buffer(bpf, len(bpf))
        self._fprog = _SockFprog(len(bpf) // 8, ctypes.addressof(self._buffer))

    @property
    def address(self) -> int:
        return ctypes.addressof(self._fprog)


@functools.lru_cache(maxsize=1)
def _libseccomp() -> Any:
    try:
        lib = L.load_library("libseccomp.so.2", "seccomp")
    except OSError:
        raise SandboxError("libseccomp2 is not installed (apt-get install libseccomp2), "
                           "or run with --security-opt seccomp=unconfined") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _arch_token(lib: Any, name: str) -> int:
    short = name.removeprefix("SCMP_ARCH_").lower()
    token = int(lib.seccomp_arch_resolve_name(short.encode()))
    if not token:
        raise ConfigError(f"seccomp architecture {name!r} is unknown to libseccomp")
    return token


def _add_rule(lib: Any, ctx: int, action: int, nr: int, conds: list[_ArgCmp], name: str) -> None:
    arr = (_ArgCmp * max(1, len(conds)))(*conds)
    rc = lib.seccomp_rule_add_array(ctx, action, nr, len(conds), arr)
    if rc < 0 and -rc != errno.EEXIST:
        raise SandboxError(f"seccomp rule for {name}: {os.strerror(-rc)}")


_COMPILED: dict[str, bytes] = {}
_COMPILE_LOCK = threading.Lock()


def _compiled(spec_json: str) -> bytes:
    """The program of a document: this process's memo, else the machine's cache
    (seccomp_cache.py), else libseccomp; one compile at a time, so stages running side by
    side compile a document once."""
    with _COMPILE_LOCK:
        bpf = _COMPILED.get(spec_json)
        if bpf is None:
            bpf = _COMPILED[spec_json] = _load_or_compile(spec_json)
        return bpf


def _load_or_compile(spec_json: str) -> bytes:
    from pybuild.builder.sandbox import seccomp_cache

    check(json.loads(spec_json))
    lib = _libseccomp()
    directory = seccomp_cache.cache_dir()
    version = _version(lib)
    key = seccomp_cache.key_of(spec_json, version, platform.machine()) if directory and version else ""
    bpf = seccomp_cache.load(directory, key) if directory and key else None
    if bpf is None:
        bpf = _compile(lib, spec_json)
        if directory and key:
            seccomp_cache.store(directory, key, bpf)
    return bpf


def _version(lib: Any) -> tuple[int, int, int] | None:
    """libseccomp's version (seccomp_version, 2.3+), or None when it cannot say."""
    try:
        fn = lib.seccomp_version
    except AttributeError:
        return None
    fn.restype = ctypes.POINTER(ctypes.c_uint * 3)
    got = fn()
    return (got.contents[0], got.contents[1], got.contents[2]) if got else None


def _compile(lib: Any, spec_json: str) -> bytes:
    spec = json.loads(spec_json)
    default = _action(spec["defaultAction"], spec.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SandboxError("seccomp_init failed")
    try:
        for name in spec.get("architectures") or []:
            rc = lib.seccomp_arch_add(ctx, _arch_token(lib, name))
            if rc < 0 and -rc != errno.EEXIST:
                raise SandboxError(f"seccomp architecture {name}: {os.strerror(-rc)}")
        for rule in spec["syscalls"]:
            action = _action(rule["action"], rule.get("errnoRet"))
            if action == default:
                continue  # libseccomp refuses a rule that repeats the default (runc skips it too)
            conds = [_ArgCmp(a["index"], _OPS[a["op"]], a["value"], a["valueTwo"]) for a in rule.get("args") or []]
            per_index: dict[int, int] = {}
            for c in conds:
                per_index[c.arg] = per_index.get(c.arg, 0) + 1
            for name in rule["names"]:
                nr = int(lib.seccomp_syscall_resolve_name(name.encode()))
                if nr == -1:
                    continue  # unknown to this libseccomp / architecture: runc ignores it too
                if any(n > 1 for n in per_index.values()):
                    # several comparisons of one argument: each its own rule (runc's reading)
                    for c in conds:
                        _add_rule(lib, ctx, action, nr, [c], name)
                else:
                    _add_rule(lib, ctx, action, nr, conds, name)
        fd = os.memfd_create("pybuild-seccomp", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise SandboxError(f"seccomp_export_bpf: {os.strerror(-rc)}")
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)


def compile_filter(spec: dict[str, Any]) -> Program:
    """The BPF program of a resolved ``linux.seccomp`` document (memoised per document)."""
    if spec.get("flags"):
        raise SandboxError(f"seccomp flags {spec['flags']} are not supported with --isolation chroot "
                           "(use --isolation oci)")
    bpf = _compiled(json.dumps(spec, sort_keys=True))
    if not bpf or len(bpf) % 8:
        raise SandboxError("libseccomp produced no filter")
    return Program(bpf)


def install(program: Program) -> None:  # pragma: no cover - runs in the forked child
    """Install ``program`` on this thread (needs CAP_SYS_ADMIN or no_new_privs already set)."""
    L.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, program.address)


__all__ = ["DEFAULT_PROFILE_PATHS", "find_default_profile", "load_profile", "profile_document", "resolve",
           "check", "step_profile", "compile_filter", "install", "Program", "host_arch"]
