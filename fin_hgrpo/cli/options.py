"""Options several commands share, as argparse parent parsers, and their parsing."""

from __future__ import annotations

import argparse

from fin_hgrpo.errors import SpecError


class Options:
    """Parent parsers: ``common`` (--debug), ``scaling`` (workers, executor, Ray, --out)
    and ``board`` (--tensorboard)."""

    def __init__(self) -> None:
        self.common = argparse.ArgumentParser(add_help=False)
        self.common.add_argument("--debug", action="store_true",
                                 help="show tracebacks on errors")
        self.scaling = argparse.ArgumentParser(add_help=False)
        self.scaling.add_argument("--workers", type=int,
                                  help="processes, or CPUs of a local Ray (default: the "
                                       "spec's, or the cores)")
        self.scaling.add_argument("--executor", choices=("local", "ray"),
                                  help="a process pool here (default) or Ray tasks")
        self.scaling.add_argument("--ray-address",
                                  help="a running Ray cluster, e.g. HEAD:6379 or "
                                       "ray://HEAD:10001 (implies --executor ray)")
        self.scaling.add_argument("--out",
                                  help="result folder (default backtests/results/<name>)")
        self.board = argparse.ArgumentParser(add_help=False)
        self.board.add_argument("--tensorboard", metavar="DIR",
                                help="also log every training metric for TensorBoard "
                                     "into DIR")


MAX_SEEDS = 256


def date_text(text: str) -> str:
    """A command-line date, as ``YYYY-MM-DD`` (refused when not a date or tz-aware)."""
    from fin_hgrpo.data.calendar import to_date
    from fin_hgrpo.errors import DataError

    try:
        return str(to_date(text, "the date").date())
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def days(text: str) -> int:
    """A number of days, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a number of days, 0 or more, got {text!r}")
    return value


def seed_list(text: str) -> list[int]:
    """``0-4`` (inclusive) or ``0,3,7``."""
    try:
        if "-" in text:
            first, last = (int(v) for v in text.split("-"))
            if last - first + 1 > MAX_SEEDS:  # counted before a list is built
                raise argparse.ArgumentTypeError(
                    f"{last - first + 1} seeds: at most {MAX_SEEDS} in one run (each is a "
                    "trained agent and its folders)")
            seeds = list(range(first, last + 1))
        else:
            seeds = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are 0-4 or 0,3,7, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct and at least one: {text!r}")
    if min(seeds) < 0 or max(seeds) >= 2**32:
        raise argparse.ArgumentTypeError(f"seeds are 0 .. 2**32 - 1, got {text!r}")
    if len(seeds) > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"{len(seeds)} seeds: at most {MAX_SEEDS} in one "
                                         "run (each is a trained agent and its folders)")
    return seeds


def executor(args: argparse.Namespace):
    """The executor the scaling options ask for, or None for the spec's own."""
    from fin_hgrpo.walkforward.executors import make_executor

    if args.workers is not None and args.workers < 1:
        raise SpecError(f"--workers must be >= 1, got {args.workers}")
    if not (args.executor or args.ray_address):
        return None
    return make_executor(args.executor or "ray", workers=args.workers,
                         ray_address=args.ray_address)
