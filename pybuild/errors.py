"""The one exception tree of pybuild.

Every error a user can cause or meet is a :class:`PybuildError`; the CLI prints
``str(error)`` as one line and exits non-zero (with a traceback only at
``--log-level debug``). Anything else escaping the library is a bug.

::

    PybuildError                      base; ``where`` says file:line, image, path...
    ├── UserError                     the request itself is wrong
    │   ├── ContainerfileError        syntax or semantics of a Containerfile (file:line)
    │   ├── InvalidReference          an image reference or transport spelling
    │   ├── ImageNotFound             no such image, name or ID (locally or remotely)
    │   ├── ContainerNotFound         no such working container
    │   ├── ContextError              a COPY/ADD source missing or outside the context
    │   ├── UnsupportedError          parses, but pybuild cannot do it yet
    │   └── ConfigError               a bad flag value, registries.conf, auth.json...
    ├── IntegrityError                bytes are not what they claim (digest, size, JSON shape)
    │   └── DigestMismatch
    ├── UnsafeContentError            a layer/archive/context tries to leave its root
    ├── StoreError                    the local store cannot do what was asked
    │   ├── StoreVersionError         the store was written by an incompatible pybuild
    │   └── LockTimeout               another process holds the store too long
    ├── BuildError                    a build step failed
    │   └── StepFailed                a RUN exited non-zero (step, line, status)
    ├── SandboxError                  the sandbox could not be set up
    └── RegistryError                 a registry said no, or could not be reached
        ├── AuthError                 401/403, bad credentials
        └── RegistryNotFound          404 for a repository, tag or blob
"""

from __future__ import annotations


class PybuildError(Exception):
    """Base of every error pybuild raises on purpose.

    ``where`` is a location a user recognises (``Containerfile:3``, an image
    name, a path); ``str()`` puts it first, so one line says what and where.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def located(self, where: str) -> PybuildError:
        """This error said at ``where`` (a Containerfile line, the place a user looks), its own
        place moved into the text: a copy of the same class, so the original stays as raised."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.message = f"{self.where}: {self.message}" if self.where else self.message
        new.where = where
        new.args = (new.message,)
        return new


class UserError(PybuildError):
    """The request itself is wrong; retrying it unchanged will fail again."""


class ContainerfileError(UserError):
    """A Containerfile is malformed or asks for something invalid.

    ``file`` and ``line`` (1-based) locate it; ``where`` is ``file:line``.
    """

    def __init__(self, message: str, *, file: str = "Containerfile", line: int | None = None) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(message, where=where)
        self.file = file
        self.line = line


class ExpansionError(ContainerfileError):
    """``${v:?msg}`` failed or a substitution is malformed; carries no line yet (the
    evaluator adds the instruction's)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, file="", line=None)
        self.where = None


class InvalidReference(UserError):
    """An image reference, digest or transport string that cannot be parsed."""


class ImageNotFound(UserError):
    """No image answers to this name, ID or reference."""


class ContainerNotFound(UserError):
    """No working container answers to this name or ID."""


class ContextError(UserError):
    """A COPY/ADD source is missing, or lies outside the build context."""


class UnsupportedError(UserError):
    """Valid input that pybuild does not support yet."""


class ConfigError(UserError):
    """A flag value or a configuration file is wrong."""


class IntegrityError(PybuildError):
    """Bytes do not match what they claim to be (digest, size, document shape)."""


class DigestMismatch(IntegrityError):
    """A blob's digest or size differs from the expected descriptor."""


class UnsafeContentError(PybuildError):
    """A layer, archive or context entry would write outside its root."""


class StoreError(PybuildError):
    """The local store cannot carry out the operation."""


class StoreVersionError(StoreError):
    """The store was written by an incompatible version of pybuild."""


class LockTimeout(StoreError):
    """Another process held a store lock for too long."""


class BuildError(PybuildError):
    """A build could not complete."""


class StepFailed(BuildError):
    """A RUN step exited with a non-zero status."""

    def __init__(self, message: str, *, where: str | None = None, status: int = 1) -> None:
        super().__init__(message, where=where)
        self.status = status


class SandboxError(PybuildError):
    """The isolation for a RUN step could not be set up."""


class RegistryError(PybuildError):
    """A registry refused a request or could not be reached."""


class AuthError(RegistryError):
    """Authentication or authorisation failed (401/403)."""


class RegistryNotFound(RegistryError):
    """The registry answered 404 for a repository, manifest or blob."""


__all__ = [
    "ROOTLESS_AS_ROOT",
    "PybuildError",
    "UserError",
    "ContainerfileError",
    "ExpansionError",
    "InvalidReference",
    "ImageNotFound",
    "ContainerNotFound",
    "ContextError",
    "UnsupportedError",
    "ConfigError",
    "IntegrityError",
    "DigestMismatch",
    "UnsafeContentError",
    "StoreError",
    "StoreVersionError",
    "LockTimeout",
    "BuildError",
    "StepFailed",
    "SandboxError",
    "RegistryError",
    "AuthError",
    "RegistryNotFound",
    "is_disk_full",
]


# ``--isolation rootless`` as real root: the library refuses it and the CLI's flag names it
ROOTLESS_AS_ROOT = ("rootless isolation is runc in pybuild's user namespace, for an ordinary user "
                    "(as root: use --isolation oci or chroot)")


def is_disk_full(e: BaseException) -> bool:
    """An OSError of a full disk or quota (ENOSPC, EDQUOT): a user's condition, said in one line."""
    import errno

    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)
