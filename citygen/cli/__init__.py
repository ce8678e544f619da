"""The ``citygen`` command line: parse, call the typed API, print.

Each sub-command lives in its own module of this package with two functions:
``register(subparsers)`` adds its parser, ``run(args) -> int`` does the work. Exit status:
0 on success, 2 on bad usage (argparse), 1 with a one-line ``error: ...`` on bad input or any
other :class:`~citygen.errors.CitygenError`, 130 when interrupted (the message is the
command's ``on_interrupt`` default when it sets one: what state the interrupt left).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from citygen._version import __version__
from citygen.errors import CitygenError

#: Sub-command modules, in the order ``citygen --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "prepare", "train", "finetune", "generate", "infill", "evaluate", "export"
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="citygen",
        description="Learn how real cities lay out their streets and generate new road networks.",
    )
    parser.add_argument("--version", action="version", version=f"citygen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"citygen.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except CitygenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"error: {getattr(args, 'on_interrupt', 'interrupted')}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
