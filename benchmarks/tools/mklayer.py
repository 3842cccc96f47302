"""Write the layer tar of a directory with pybuild (the pybuild side of the `layer` case).

    python benchmarks/tools/mklayer.py [--compression none|gzip|zstd] [--out FILE] DIR

Prints the diff_id, digest and size; writes the blob to FILE (default /dev/null).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pybuild.oci.layer import write_layer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--compression", default="none", choices=("none", "gzip", "zstd"))
    p.add_argument("--out", default="/dev/null")
    p.add_argument("--overlay-upper", action="store_true")
    p.add_argument("--timestamp", type=int)
    p.add_argument("source")
    a = p.parse_args(argv)
    with open(a.out, "wb") as out:
        info = write_layer(Path(a.source), out, compression=a.compression,
                           overlay_upper=a.overlay_upper, timestamp=a.timestamp)
    print(f"{info.diff_id} {info.digest} {info.size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
