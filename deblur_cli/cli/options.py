"""What every command's options share: environment defaults, ``--help`` sections, parameter types.

Environment defaults: an option marked ``[env var]`` takes its default from
``STFAN_DEBLUR_<NAME>`` for the main command (``run``), and from
``STFAN_DEBLUR_<COMMAND>_<NAME>`` for the others (``STFAN_DEBLUR_TRAIN_DEVICE``),
so a device list meant for ``run`` never reaches ``train``. The weights choice
(``STFAN_DEBLUR_WEIGHTS``) and offline mode (``STFAN_DEBLUR_OFFLINE``) are shared by
every command. Flags that destroy files (``--overwrite``) are never read from the environment.
"""

from __future__ import annotations

from typing import Any, Callable

import click

ENV = "STFAN_DEBLUR_"
MAIN_COMMAND = "run"
SHARED = ("WEIGHTS", "OFFLINE")  # one setting for every command
NEVER_FROM_ENV = ("OVERWRITE",)


def env(name: str, command: str = MAIN_COMMAND) -> dict[str, Any]:
    """click keyword arguments that read the option's default from the environment."""
    name = name.upper()
    if name in NEVER_FROM_ENV:
        raise ValueError(f"--{name.lower()} must not be read from the environment")
    prefix = ENV if command == MAIN_COMMAND or name in SHARED else f"{ENV}{command.upper()}_"
    return {"envvar": prefix + name, "show_envvar": True}


class GroupedOption(click.Option):
    """An option that belongs to a section of ``--help`` (``group=``)."""

    def __init__(self, *args: Any, group: str = "Other options", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group = group


SECTIONS = ("Input and output", "Model", "Encoding", "Performance", "Reporting")  # the order in --help


class GroupedCommand(click.Command):
    """A command whose ``--help`` lists its options in sections (:data:`SECTIONS` first, then the others)."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                sections.setdefault(getattr(param, "group", "Other options"), []).append(record)
        order = {title: i for i, title in enumerate(SECTIONS)}
        for title, rows in sorted(sections.items(), key=lambda item: order.get(item[0], len(order))):
            with formatter.section(title):
                formatter.write_dl(rows)


def grouped(group: str) -> Callable[..., Callable]:
    """``@grouped("Model")("--weights", ...)``: a click option in the ``Model`` section of ``--help``."""

    def option(*decls: str, **kwargs: Any) -> Callable:
        return click.option(*decls, cls=GroupedOption, group=group, **kwargs)

    return option


class TimeType(click.ParamType):
    """Seconds (12.5) or HH:MM:SS[.ms]; parsed by deblur_cli.io.timespan."""

    name = "TIME"

    def convert(self, value, param, ctx):
        from ..errors import OptionError
        from ..io.timespan import parse_time

        try:
            return parse_time(value)
        except OptionError as exc:
            self.fail(str(exc), param, ctx)


class StrengthType(click.ParamType):
    """auto, or a number from 0 to 1; parsed by deblur_cli.inference.strength."""

    name = "auto|0..1"

    def convert(self, value, param, ctx):
        from ..errors import OptionError
        from ..inference.strength import parse_strength

        try:
            return parse_strength(value)
        except OptionError:
            self.fail(f"{value!r} is not auto or a number from 0 to 1", param, ctx)


def strength_option(command: str = MAIN_COMMAND, option: Callable[..., Any] = click.option):
    """``--strength auto|0..1`` of a command that writes restored video (``option``: the --help section's)."""
    return option("--strength", type=StrengthType(), default="auto", metavar="auto|0..1", **env("STRENGTH", command),
                  help="How much of the restoration is written: auto = per region, where it clearly deblurs "
                       "(sharp frames and regions keep the input); a number blends uniformly (0 = the input, "
                       "1 = the network's output alone).")
