"""The ``stfan-deblur`` command line: a thin click layer over the Python API.

``stfan-deblur INPUT -o OUTPUT`` runs the ``run`` subcommand; the other
subcommands (``train``, ``eval``, ``demo``, ...) are named explicitly. Any
:class:`~deblur_cli.errors.DeblurError` becomes one ``error:`` line on stderr
and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import click

from .. import __version__
from ..errors import DeblurError
from .info_cmd import info_command
from .run_cmd import run_command

DEFAULT_COMMAND = "run"


class UserError(click.ClickException):
    """Shows a DeblurError as one line with its own exit code."""

    def __init__(self, error: DeblurError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


class DefaultCommandGroup(click.Group):
    """A group whose first argument, when it names no subcommand, goes to ``run``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names and args[0] != "--version":
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DeblurError as exc:
            raise UserError(exc) from None


@click.group(
    cls=DefaultCommandGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="stfan-deblur")
def cli() -> None:
    """Remove motion blur from videos with STFAN.

    \b
    stfan-deblur INPUT -o OUTPUT      deblur a video (or every video in a folder)
    stfan-deblur demo                 try it on a built-in sample
    """


cli.add_command(run_command, DEFAULT_COMMAND)
cli.add_command(info_command, "info")


def _register_optional() -> None:
    """Subcommands whose modules may be absent from a partial install are added when present."""
    try:
        from .train_cmds import demo_command, eval_command, synth_command, train_command
    except ImportError:
        return
    cli.add_command(train_command, "train")
    cli.add_command(eval_command, "eval")
    cli.add_command(demo_command, "demo")
    cli.add_command(synth_command, "synth")


_register_optional()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="stfan-deblur")
