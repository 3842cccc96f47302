"""Building images: the Containerfile front end, the step graph, the store,
working containers, sandboxes and the executor."""
