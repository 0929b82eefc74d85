"""The ``pd2java`` command line: ``pd2java <verb> ...``.

Each verb is a thin wrapper over a public Python function and lives with that function's module;
a module contributes its verbs through ``add_commands(subparsers)``. Exit codes: 0 ok, 1 user
error, 2 parity failure.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pd2java import __version__
from pd2java.errors import ParityError, UserError

# Modules that contribute verbs. Each defines add_commands(subparsers); every parser it adds sets
# `func` (args -> int exit code) with set_defaults.
_COMMAND_MODULES = (
    "pd2java.training.data.commands",
    "pd2java.training.commands",
    "pd2java.training.train_many",
    "pd2java.training.compress_commands",
    "pd2java.export_commands",
    "pd2java.report.commands",
    "pd2java.backends.java.commands",
    "pd2java.backends.java.parity_commands",
    "pd2java.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pd2java",
        description="Train PRPD partial-discharge classifiers and run them, verified, in Java.",
    )
    parser.add_argument("--version", action="version", version=f"pd2java {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"pd2java {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ParityError as exc:
        print(f"pd2java {args.command}: parity failure: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
