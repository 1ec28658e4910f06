"""The ``fin-hgrpo`` command: one module per command, each registering its own
arguments beside the handler that runs them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fin_hgrpo.cli import (
    backtest,
    cv,
    data,
    overfitting,
    risk,
    train,
    verify,
    weights,
    workspace,
)
from fin_hgrpo.cli.options import Options
from fin_hgrpo.errors import FinHgrpoError

COMMANDS = (workspace, data, train, backtest, cv, overfitting, risk, weights, verify)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; bad input prints one line and exits 2, a bug one line and exits 1
    (each a traceback with --debug)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    args.argv = argv  # what a run's manifest records as the command that made it
    args.main = main  # what verify re-runs a recorded command with
    try:
        return args.run(args)
    except FinHgrpoError as exc:
        if args.debug:
            raise
        print(f"fin-hgrpo: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early, e.g. head
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug, not bad input: one line, the traceback with --debug
        if args.debug:
            raise
        print(f"fin-hgrpo: internal error: {type(exc).__name__}: {exc} (a bug: run again "
              "with --debug for the traceback, and report it)", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    """The whole command line: each command module registers its subcommands."""
    top = argparse.ArgumentParser(prog="fin-hgrpo", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    options = Options()
    for module in COMMANDS:
        module.register(commands, options)
    return top
