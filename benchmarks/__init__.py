"""pybuild benchmarks: each case runs a pybuild command and a peer (tar, buildah, skopeo...)
alternately and reports medians. See benchmarks/README.md; run ``python -m benchmarks``."""
