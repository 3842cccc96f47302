"""`python -m pybuild` runs the command line."""

from pybuild.cli import main

main()
