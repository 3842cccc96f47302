"""Case `layer`: pybuild's write_layer vs `tar -c` piped into sha256sum / zstd / gzip.

The tree is generated once (deterministic: fixed seed) under benchmarks/work/: 20,000 files of
200 B - 20 KB (about 200 MB) in 200 nested directories, with word-like pseudo-random text so
that compression has something to do. --quick uses 2,000 files (about 20 MB).

Both sides read the same tree from the page cache (no cache dropping: this measures the
archiving, not the disk). pybuild computes more than its peers: the diff_id (sha256 of the
tar) AND the compressed digest in the same pass; the peers hash only their final output.
"""

from __future__ import annotations

import json
import random
import shlex
from pathlib import Path

from benchmarks.harness import Case, Context

SEED = 1234


def generate(root: Path, files: int, seed: int = SEED) -> int:
    """Write the tree (if its marker says it is not already there); return its byte count."""
    marker = root / ".spec.json"
    spec = {"files": files, "seed": seed, "version": 1}
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return int(json.loads((root / ".size").read_text()))
    import shutil

    if root.exists():
        shutil.rmtree(root)
    tree = root / "tree"
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
             for _ in range(5000)]
    pool = " ".join(rng.choices(vocab, k=1_400_000)).encode()
    per_dir = max(1, files // 200)
    total = 0
    for a in range(20):
        for b in range(10):
            d = tree / f"d{a:02d}" / f"s{b:02d}"
            d.mkdir(parents=True, exist_ok=True)
            for c in range(per_dir):
                size = rng.randint(200, 20_000)
                off = rng.randrange(0, len(pool) - size)
                (d / f"f{c:03d}.txt").write_bytes(pool[off:off + size])
                total += size
    (root / ".size").write_text(str(total))
    marker.write_text(json.dumps(spec))
    return total


def cases(ctx: Context) -> list[Case]:
    files = 2_000 if ctx.quick else 20_000
    root = ctx.work / f"layer-{files}"
    tree = root / "tree"
    tool = [ctx.python, str(ctx.project / "benchmarks/tools/mklayer.py")]
    q = shlex.quote(str(tree))
    size = f"{files} files, ~{files // 100} MB"

    def setup() -> None:
        generate(root, files)

    return [
        Case("layer-none", [*tool, "--compression", "none", str(tree)], f"tar -cf - -C {q} . | sha256sum",
             peer_name="tar|sha256sum", description=f"uncompressed layer tar + diff_id, {size}", setup=setup),
        Case("layer-zstd", [*tool, "--compression", "zstd", str(tree)],
             f"tar -cf - -C {q} . | zstd -3 -T0 -q | sha256sum",
             peer_name="tar|zstd -3 -T0|sha256sum", description=f"zstd layer + both digests, {size}", setup=setup),
        Case("layer-gzip", [*tool, "--compression", "gzip", str(tree)], f"tar -cf - -C {q} . | gzip -6 | sha256sum",
             peer_name="tar|gzip -6|sha256sum", description=f"gzip layer + both digests, {size}", setup=setup),
    ]
