"""``python -m benchmarks [--runs N] [--cases a,b] [--quick] [--list]``"""

from __future__ import annotations

import sys

from benchmarks.harness import main

sys.exit(main())
