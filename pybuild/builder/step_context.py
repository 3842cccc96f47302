"""What a step handler sees: the stage it runs in and the narrow part of the build it may use.

Handlers (steps.py, run_step.py, copy_step.py) and the remote cache get a :class:`StepContext`,
not the executor's whole ``Build``: the Protocol lists exactly the members they read, so a
handler cannot reach the rest of the build, and a test may hand one a smaller object
(BuildKit's ``dispatchX(d, opt)`` takes the state and the options it needs, no more).
``executor.Build`` satisfies it; mypy checks that where the executor calls a handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import contextlib
    import threading

    from pybuild.builder.container import WorkingContainer
    from pybuild.builder.containerfile.evaluate import StageEvaluator
    from pybuild.builder.containerfile.ignore import IgnoreMatcher
    from pybuild.builder.containerfile.instructions import Instruction
    from pybuild.builder.copier import ContentHashCache, Selected
    from pybuild.builder.graph import Stage
    from pybuild.builder.options import BuildOptions
    from pybuild.builder.sandbox.network import Pool
    from pybuild.builder.sandbox.spec import Sandbox
    from pybuild.builder.store import Image, Store
    from pybuild.events import EventCallback
    from pybuild.oci.digest import Digest
    from pybuild.oci.spec import History, ImageConfig, Platform

# the instruction type a step handler takes (steps.Handler[I]): ins.Run for RUN, ins.Copy for COPY/ADD...
I = TypeVar("I", bound="Instruction")  # noqa: E741 - read as "instruction" in every signature

@dataclass
class StageResult:
    """What a finished stage leaves: its layers and config, and the key that names them."""

    index: int
    layers: list[Digest]  # diff_ids, bottom first
    config: ImageConfig
    key: str
    evaluator: StageEvaluator | None = None


@dataclass
class StageState:
    """The state of a stage while its steps run."""

    stage: Stage
    container: WorkingContainer
    config: ImageConfig
    key: str
    evaluator: StageEvaluator
    # WORKDIRs not made yet: (path, USER then); the next layer creates them (as buildah does)
    pending_workdirs: list[tuple[str, str]] = field(default_factory=list)
    dirty: bool = False  # the upper dir holds changes not yet committed (--layers=false)
    history_pending: list[History] = field(default_factory=list)
    last_layer_history: int | None = None  # --layers=false: the pending entry that owns the layer
    cmd_set: bool = False  # a CMD in this stage (an ENTRYPOINT then keeps it)
    number: int = 0
    total: int = 0
    prefix: str = ""


class StepContext(Protocol):
    """The members of a build a step uses. Read-only properties where handlers only read (a
    plain attribute satisfies them); the per-build memos (downloads, git commits) are
    mutated under ``download_lock``."""

    @property
    def store(self) -> Store: ...
    @property
    def opts(self) -> BuildOptions: ...
    @property
    def on_event(self) -> EventCallback | None: ...
    @property
    def context(self) -> str: ...
    @property
    def containerfile_name(self) -> str: ...
    @property
    def sandbox(self) -> Sandbox | None: ...  # None: the real isolation (sandbox.run)
    @property
    def hash_cache(self) -> ContentHashCache: ...
    @property
    def ignore(self) -> IgnoreMatcher | None: ...
    @property
    def results(self) -> dict[int, StageResult]: ...  # finished stages, by index
    @property
    def resources(self) -> contextlib.ExitStack: ...  # closed when the build ends
    @property
    def download_lock(self) -> threading.Lock: ...
    @property
    def downloads(self) -> dict[tuple[str, str | None], Selected]: ...  # ADD URL, checksum -> file
    @property
    def git_commits(self) -> dict[str, tuple[str, str]]: ...  # ADD git source -> commit, ref

    def created(self) -> str:
        """The time a history entry or config is dated (--timestamp, SOURCE_DATE_EPOCH or now)."""
        ...

    def resolve_from(self, stage: Stage, value: str) -> tuple[str, Any]:
        """``--from``/``from=``: ("stage", index) | ("image", reference) | ("context", directory)."""
        ...

    def resolve_image(self, name: str, *, line: int | None = None, platform: Platform | None = None) -> Image:
        """An image for --from or a mount, pulled per --pull, once per build."""
        ...

    def ssh_socket(self, sid: str) -> str | None:
        """The agent socket of ``--ssh`` id ``sid``, or None when not given."""
        ...

    def network_pool(self) -> Pool:
        """The build's private networks, made on first use."""
        ...

    def first_network_fallback(self) -> bool:
        """True once per build: the first step that falls back to the host network says why."""
        ...
