"""The `imagelock` command: a thin Typer shell over the library.

Errors are turned into one line on stderr and an exit code here and nowhere else:
0 ok, 1 a check found a difference or a build failed, 2 usage or input error.
"""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer

try:  # Typer >= 0.2x vendors click; older Typer uses the click package.
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click import exceptions as click_exceptions  # type: ignore[no-redef,import-not-found,unused-ignore]

from imagelock import __version__
from imagelock.errors import ImagelockError

app = typer.Typer(
    name="imagelock",
    help="Lock the images your Dockerfiles use to digests; build reproducibly with buildx.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imagelock {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """imagelock keeps Dockerfiles on readable tags and records what each tag resolved to."""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one error line and exit."""
    typer.echo(f"imagelock: error: {message}", err=True)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, map every known failure to one line and an exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="imagelock", standalone_mode=False)
    except ImagelockError as exc:
        fail(str(exc), exc.exit_code)
    except click_exceptions.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            typer.echo(exc.ctx.get_help(), err=True)
            raise SystemExit(2) from None
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        fail(f"{exc.format_message()}{hint}", 2)
    except click_exceptions.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        fail("aborted", 130)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except BrokenPipeError:
        sys.stderr.close()
        raise SystemExit(1) from None
    raise SystemExit(result if isinstance(result, int) else 0)
