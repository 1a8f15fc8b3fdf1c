"""The ``stfan-deblur`` command line: a thin click layer over the Python API.

``stfan-deblur INPUT -o OUTPUT`` runs the ``run`` subcommand; the other
subcommands (``train``, ``eval``, ``demo``, ...) are named explicitly. Every
failure is one ``error:`` line on stderr and a non-zero exit, never a
traceback: a :class:`~deblur_cli.errors.DeblurError` with its own exit code, a
bad option or argument with exit code 2, Ctrl-C with 130, and an unexpected
exception (a bug) as ``error: internal error: ...`` with 1 (set
``STFAN_DEBLUR_DEBUG=1`` to see its traceback instead).
"""

from __future__ import annotations

import os

import click

from .. import __version__
from ..errors import DeblurError, Interrupted
from .info_cmd import info_command
from .options import ENV
from .run_cmd import run_command
from .weights_cmd import weights_group

DEFAULT_COMMAND = "run"
DEBUG_ENV = ENV + "DEBUG"


class UserError(click.ClickException):
    """Shows a DeblurError as one line with its own exit code."""

    def __init__(self, error: DeblurError | str, exit_code: int | None = None) -> None:
        super().__init__(str(error))
        self.exit_code = exit_code if exit_code is not None else getattr(error, "exit_code", 1)

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _usage_line(exc: click.UsageError) -> str:
    """click's usage error as one line, pointing at the command's --help."""
    where = exc.ctx.command_path if exc.ctx is not None else "stfan-deblur"
    return f"{exc.format_message()} (see '{where} --help')"


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
        except click.UsageError as exc:
            raise UserError(_usage_line(exc), exit_code=exc.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            raise UserError(Interrupted("interrupted")) from None
        except Exception as exc:
            if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
                raise
            raise UserError(f"internal error: {type(exc).__name__}: {exc} "
                            f"(set {DEBUG_ENV}=1 to see where; please report it)") from None


EPILOG = """\b
Shell completion (click's own), e.g. for bash:
  eval "$(_STFAN_DEBLUR_COMPLETE=bash_source stfan-deblur)"
(zsh_source / fish_source for zsh and fish; put the line in your shell's rc file).
"""


@click.group(
    cls=DefaultCommandGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(__version__, prog_name="stfan-deblur")
def cli() -> None:
    """Remove motion blur from videos with STFAN.

    \b
    stfan-deblur INPUT -o OUTPUT      deblur a video, an image sequence, or every video in a folder
    stfan-deblur demo                 try it on a built-in sample
    stfan-deblur weights list         the named weights, what is cached, and the default
    """


cli.add_command(run_command, DEFAULT_COMMAND)
cli.add_command(info_command, "info")
cli.add_command(weights_group, "weights")


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
