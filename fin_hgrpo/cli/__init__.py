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
DESCRIPTION = """\
Train trading agents (PPO, GRPO, Hybrid GRPO) on historical prices and judge them
honestly: walk-forward backtests with transaction costs against classical baselines,
seeds as distributions, intervals against 1/N, risk reports and overfitting measures.

The three most used commands:
  fin-hgrpo backtest backtests/default.toml
      the main job: agents and baselines over the bundled sample's history, with
      backtests/results/default/report.html
  fin-hgrpo risk backtests/results/default:hybrid_grpo
      a strategy's risk report: where its risk comes from, crises, VaR tests
  fin-hgrpo weights backtests/results/default --strategy hybrid_grpo
      the target weights at the last close, and the trades that reach them
"""
EPILOG = """\
Start with `fin-hgrpo init DIR` (a workspace of specs), and `fin-hgrpo COMMAND --help`
for a command's options. Documentation: README.md and docs/ in the repository
(`make docs` builds the site)."""


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
    top = argparse.ArgumentParser(prog="fin-hgrpo", description=DESCRIPTION, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    options = Options()
    for module in COMMANDS:
        module.register(commands, options)
    return top
