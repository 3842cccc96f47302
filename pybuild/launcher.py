"""The `pybuild` console script: a fully cached `bud` whose memo holds is answered before the
command line (click and the engine) is imported (builder/build_memo.py); every other command,
and every build the memo cannot answer, goes to pybuild.cli.main as it is."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # no typing at run time: every command starts here (mypy reads this as typing's)
if TYPE_CHECKING:
    from typing import Any


def main() -> Any:
    argv = sys.argv[1:]
    recorder = None
    if "bud" in argv or "build" in argv:  # (other verbs load no builder module: test_command_imports)
        from pybuild.builder import build_memo

        if build_memo.answer(argv):
            return 0
        recorder = build_memo.begin(argv)
    from pybuild.cli import main as cli_main

    try:
        result = cli_main()
    except BaseException:
        if recorder is not None:
            recorder.restore()
        raise
    if recorder is not None:
        recorder.finish()
    return result
