"""The Containerfile front end (pure: no I/O beyond reading the file and the ignore file).

Pipeline::

    parse(text) -> Document(nodes)           parser.py   (BuildKit's parser, rule for rule)
    instructions.from_node(node) -> typed    instructions.py (frozen dataclasses, flag checks)
                                              values.py   (--chmod, EXPOSE, --mount values)
    graph.build_graph(doc, ...) -> StepGraph  ../graph.py  (stages, deps, --target, order)
    evaluate.StageEvaluator                   evaluate.py (ARG/ENV state, expansion per step)
    check_values(x)                           check.py    (bad EXPOSE/STOPSIGNAL/ADD --checksum values)
    preflight(graph)                          preflight.py (those checks before the first step)
    expand.Lexer                              expand.py   (BuildKit's shell lexer)
    ignore.load_ignore(...)                   ignore.py   (.containerignore/.dockerignore)

Public API:

- ``parse(text, filename="Containerfile") -> Document`` and ``parse_file(path)``:
  ``Document.nodes`` (untyped :class:`parser.Node`, with ``start_line``/``end_line``),
  ``.escape``, ``.filename``, ``.warnings``, ``.directives`` (syntax/escape/check).
- ``instructions.from_node(node, filename)`` and ``instructions.typed(doc)``: typed,
  frozen instructions, each with ``.line``, ``.end_line``, ``.original``;
  ``instructions.unsupported(instr) -> str | None`` says what pybuild cannot run yet.
- ``expand.Lexer(escape).process_word(word, env)`` / ``.process_words(word, env)``.
- ``evaluate.StageEvaluator``: ``expand(instr)``, ``apply(instr)``, ``run_env()``.
- ``ignore.load_ignore(context, containerfile, ignorefile) -> IgnoreMatcher | None``.

- ``pybuild.builder.graph.build_graph(doc, build_args=, target=, build_contexts=, platform=)``
  -> ``StepGraph`` (``.stages``, ``.final``, ``.order``, ``.levels``, ``.ready(done)``,
  ``.global_args``, ``.resolve_from(stage, value)``, ``.unsupported()``,
  ``.unused_build_args()``, ``.external_images()``).

Where an instruction becomes an error: ``parse`` rejects what BuildKit's parser
rejects (bad directives, JSON with a non-string, ``ENV`` without a value,
unterminated heredocs, empty files); unknown instructions and bad flags are
rejected when nodes are typed (``build_graph`` types every node), as BuildKit does.

Choices where tools differ: ``COPY --from`` and ``--mount from=`` are never
expanded (BuildKit; buildah expands them) and a ``$`` there is an error that
names the workaround; ``# syntax=`` naming another frontend only warns, the file
is still read by this parser.

Errors are :class:`pybuild.errors.ContainerfileError` naming file and line.
"""

from __future__ import annotations

from pybuild.builder.containerfile.instructions import from_node, typed, unsupported
from pybuild.builder.containerfile.parser import Document, Heredoc, Node, parse, parse_file

__all__ = ["Document", "Heredoc", "Node", "parse", "parse_file", "from_node", "typed", "unsupported"]
