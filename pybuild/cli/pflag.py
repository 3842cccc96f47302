"""Flags parsed the way buildah's (Go's pflag) are, for every verb.

buildah users type ``--layers``, ``--layers=true``, ``--layers=false``, ``--tls-verify=false``,
``-q=false``; pflag reads a boolean flag's value only when it is attached with ``=``, so a bare
``--layers`` never takes the next word (``bud --layers --no-cache -t x .``,
``pull --tls-verify busybox``). click has no such kind of option: a flag refuses ``=value``
and an option with an optional value takes the next word. So every command here is a
:class:`Command` (or :class:`Group`), whose parser gives each boolean flag pflag's rules, and
:class:`OptionalValue` is pflag's ``NoOptDefVal`` (``--pull`` alone means ``--pull=true``).

A boolean flag is any ``is_flag`` option without a ``--no-`` twin; declare it with
``is_flag=True`` and its default (``default=None`` where "not given" means something of its own).
"""

from __future__ import annotations

from typing import Any

import click

# strconv.ParseBool, which pflag uses
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(text: str, flag: str, ctx: click.Context | None = None) -> bool:
    """pflag's reading of ``FLAG=TEXT``; anything else is a usage error naming the flag."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise click.BadOptionUsage(flag, f"invalid argument {text!r} for {flag}: use {flag}=true or {flag}=false",
                               ctx=ctx)


def is_bool_flag(param: click.Parameter) -> bool:
    """A flag that pflag would read as a bool: on/off, no ``--no-X`` spelling, not a counter."""
    return (isinstance(param, click.Option) and param.is_flag and not param.secondary_opts
            and not param.count and isinstance(param.type, click.types.BoolParamType))


class OptionalValue(click.Option):
    """A value that may be left out, as pflag's ``NoOptDefVal``: ``--pull`` alone is ``--pull=BARE``;
    a value is taken only when attached with ``=`` (the next word is never taken)."""

    def __init__(self, *args: Any, bare: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bare = bare


class _PflagParsing:
    """Gives a command's parser pflag's rules for boolean flags and :class:`OptionalValue`."""

    def make_parser(self, ctx: click.Context) -> Any:
        parser = super().make_parser(ctx)  # type: ignore[misc]
        match_long = parser._match_long_opt

        def pflag_match(opt: str, explicit_value: str | None, state: Any) -> None:
            # click calls this first for every "-x=..." and "--name[=...]" word
            option = parser._long_opt.get(opt) or (parser._short_opt.get(opt) if explicit_value is not None
                                                   else None)
            obj = getattr(option, "obj", None)
            if option is not None and explicit_value is not None and obj is not None and is_bool_flag(obj):
                state.opts[option.dest] = parse_bool(explicit_value, opt, parser.ctx)
                state.order.append(obj)
                return
            if option is not None and explicit_value is None and isinstance(obj, OptionalValue):
                option.process(obj.bare, state)
                return
            if opt not in parser._long_opt and not opt.startswith("--"):
                # click tries a "-x" word as a long option first, and its "no such option"
                # imports difflib for suggestions nobody sees (the word is then read as short)
                raise click.NoSuchOption(opt, ctx=parser.ctx)
            match_long(opt, explicit_value, state)

        parser._match_long_opt = pflag_match
        return parser


class Command(_PflagParsing, click.Command):
    """A click command whose flags parse as buildah's do."""


class Group(_PflagParsing, click.Group):
    """A click group whose own flags, and the commands declared on it, parse as buildah's do."""

    command_class = Command
    group_class = type


def command(name: str | None = None, **kwargs: Any) -> Any:
    """``@click.command`` with pflag's parsing (:class:`Command`)."""
    return click.command(name, cls=Command, **kwargs)


def group(name: str | None = None, **kwargs: Any) -> Any:
    """``@click.group`` with pflag's parsing (:class:`Group`)."""
    return click.group(name, cls=kwargs.pop("cls", Group), **kwargs)
