"""The ``stfan-deblur`` command line: a thin click layer over the Python API.

``stfan-deblur INPUT -o OUTPUT`` runs the ``run`` subcommand; the other
subcommands (``train``, ``eval``, ``demo``, ...) are named explicitly. A first
word that names a subcommand and also an input ``run`` could take (a video, a
folder of frames or of videos here), with ``-o``/``--output`` given, is read as
that input: the path wins. ``./NAME`` or ``run NAME`` force the path,
``--subcommand NAME`` the subcommand.

Every failure is one ``error:`` line on stderr and a non-zero exit, never a
traceback: a :class:`~deblur_cli.errors.DeblurError` with its own exit code, a
bad option or argument with exit code 2, Ctrl-C with 130, SIGTERM with 143 and
SIGHUP with 129 (both stop the work as Ctrl-C does: see
:mod:`deblur_cli.cli.signals`), and an unexpected exception (a bug) as
``error: internal error: ...`` with 1 (set ``STFAN_DEBLUR_DEBUG=1`` to see its
traceback instead).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import __version__
from ..errors import DeblurError, Interrupted, exit_code_of, shown, stopped_by
from .info_cmd import info_command
from .options import ENV
from .run_cmd import run_command
from .scan_cmd import scan_command
from .signals import stop_on_signals
from .weights_cmd import weights_group

DEFAULT_COMMAND = "run"
DEBUG_ENV = ENV + "DEBUG"
FORCE_SUBCOMMAND = "--subcommand"  # `stfan-deblur --subcommand demo ...`: the subcommand, whatever is on disk
OUTPUT_FLAGS = ("-o", "--output")


class UserError(click.ClickException):
    """Shows a DeblurError as one line with its own exit code."""

    def __init__(self, error: DeblurError | str, exit_code: int | None = None) -> None:
        super().__init__(str(error))
        self.exit_code = exit_code if exit_code is not None else getattr(error, "exit_code", 1)

    def show(self, file=None) -> None:
        click.echo(f"error: {shown(self.message)}", err=True)


def _usage_line(exc: click.UsageError) -> str:
    """click's usage error as one line, pointing at the command's --help."""
    where = exc.ctx.command_path if exc.ctx is not None else "stfan-deblur"
    return f"{exc.format_message()} (see '{where} --help')"


def _gives_output(args: list[str]) -> bool:
    return any(a in OUTPUT_FLAGS or a.startswith("--output=") or (a.startswith("-o") and len(a) > 2) for a in args)


def runnable_input(path: Path) -> bool:
    """Whether ``run`` could take ``path``: a video file, a folder of frames, or a folder holding videos."""
    from ..pipeline.batch import is_video_name
    from ..pipeline.inputs import FOLDER, SEQUENCE, input_kind, plan_jobs

    try:
        if path.is_file():
            return is_video_name(path)
        kind = input_kind(path)
        return kind == SEQUENCE or (kind == FOLDER and bool(plan_jobs(path, path.with_name(path.name + "~"))[1]))
    except (DeblurError, OSError):
        return False


class DefaultCommandGroup(click.Group):
    """A group whose first argument goes to ``run`` when it names no subcommand, or an input ``run`` can take."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] == FORCE_SUBCOMMAND:
            if len(args) < 2 or args[1] not in self.commands:
                raise UserError(f"{FORCE_SUBCOMMAND} needs a subcommand: {', '.join(sorted(self.commands))}",
                                exit_code=2)
            return super().parse_args(ctx, args[1:])
        if args and args[0] not in ctx.help_option_names and args[0] != "--version":
            if args[0] not in self.commands:
                args = [DEFAULT_COMMAND, *args]
            elif args[0] != DEFAULT_COMMAND and _gives_output(args[1:]) and runnable_input(Path(args[0])):
                args = [DEFAULT_COMMAND, *args]  # an existing input wins over the subcommand of the same name
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            with stop_on_signals():  # SIGTERM/SIGHUP stop the work as Ctrl-C does
                return super().invoke(ctx)
        except DeblurError as exc:
            raise UserError(exc) from None
        except click.UsageError as exc:
            raise UserError(_usage_line(exc), exit_code=exc.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt as exc:
            raise UserError(Interrupted(stopped_by(exc), exit_code=exit_code_of(exc))) from None
        except Exception as exc:
            if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
                raise
            raise UserError(f"internal error: {type(exc).__name__}: {exc} "
                            f"(set {DEBUG_ENV}=1 to see where; please report it)") from None


EPILOG = """\b
A first word that is both a subcommand and an input here (a video, a folder of
frames or of videos named like it) is read as the input when -o/--output is
given. Force the input with ./NAME (or 'stfan-deblur run NAME -o ...'), the
subcommand with 'stfan-deblur --subcommand NAME ...'.

\b
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
    stfan-deblur scan INPUT           which files, and which seconds, are blurred (no network)
    stfan-deblur demo                 try it on a built-in sample
    stfan-deblur weights list         the named weights, what is cached, and the default
    """


cli.add_command(run_command, DEFAULT_COMMAND)
cli.add_command(info_command, "info")
cli.add_command(scan_command, "scan")
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
