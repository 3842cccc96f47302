"""OCI formats and protocols: digests, documents, layouts, layers, transports.

Nothing in this package forks, mounts or unshares; side effects are limited to
files (layout.py, layer.py) and the network (registry/).
"""
