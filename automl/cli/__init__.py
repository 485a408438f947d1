"""The ``automl`` command line: one module per command group, one table of commands."""

from automl.cli._common import EXIT_USAGE
from automl.cli._main import COMMANDS, EXIT_INTERRUPTED, EXIT_TERMINATED, build_parser, main

__all__ = ["COMMANDS", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "EXIT_USAGE", "build_parser", "main"]
