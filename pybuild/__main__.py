"""`python -m pybuild` runs the command line (as the console script does)."""

import sys

from pybuild.launcher import main

sys.exit(main())
