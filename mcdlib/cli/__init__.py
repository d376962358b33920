"""The ``mcd`` command line: a thin layer over the library.

Each command lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace; returns an exit
status). User errors (:class:`mcdlib.errors.McdError`) are printed as one clear message with
exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mcdlib.errors import McdError

#: top-level commands: (module under mcdlib.cli, group or None)
TOP_COMMANDS = ["evaluate", "train", "ablate", "tune", "demo", "notebooks", "config_cmd"]
#: ``mcd data <sub>`` commands
DATA_COMMANDS = ["data_check", "data_pack", "data_synth", "data_import_avqa"]


def _load(name: str):
    try:
        return importlib.import_module(f"mcdlib.cli.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"mcdlib.cli.{name}":
            return None  # command not built yet
        raise


def build_parser() -> argparse.ArgumentParser:
    from mcdlib import __version__

    parser = argparse.ArgumentParser(
        prog="mcd",
        description="mcdlib: Mutual Correlation Distillation for audio-visual question answering.",
    )
    parser.add_argument("--version", action="version", version=f"mcdlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    data = sub.add_parser("data", help="check, pack and synthesise datasets",
                          description="Dataset commands: check, pack, synth.")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    for name in DATA_COMMANDS:
        module = _load(name)
        if module is not None:
            module.register(data_sub)
    for name in TOP_COMMANDS:
        module = _load(name)
        if module is not None:
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status = args.func(args)
    except McdError as exc:
        print(f"mcd: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mcd: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def entry_point() -> None:  # console_scripts target
    sys.exit(main())
