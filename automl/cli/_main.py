"""The ``automl`` command: one table of commands, each from the module of its group. Bad
input: one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from automl._errors import AutoMLError, Terminated, stop_on_sigterm
from automl.cli import _quality, _release, _search, _serve, _studies
from automl.cli._common import EXIT_USAGE, Command, Parser
from storage import StorageError

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

COMMANDS: dict[str, Command] = {
    **_search.COMMANDS,
    **_studies.COMMANDS,
    **_release.COMMANDS,
    **_quality.COMMANDS,
    **_serve.COMMANDS,
}


def build_parser() -> Parser:
    parser = Parser(prog="automl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, command in COMMANDS.items():
        command.add_arguments(commands.add_parser(name, help=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for --workers' helpers
    stop_on_sigterm()
    try:
        return COMMANDS[args.command].run(args)
    except (AutoMLError, StorageError) as exc:
        print(f"automl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(
            f"\nautoml: {'terminated' if terminated else 'interrupted'}; the running trial was "
            "closed. Re-run the same command to resume.",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


__all__ = ["COMMANDS", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "build_parser", "main"]
