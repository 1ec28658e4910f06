"""``fin-hgrpo verify``: re-run a run from its manifest and compare the results."""

from __future__ import annotations

import argparse

from fin_hgrpo.cli.options import Options


def register(commands, options: Options) -> None:
    verify = commands.add_parser("verify", parents=[options.common],
                                 help="re-run a run from its manifest and compare the results")
    verify.add_argument("folder", help="a backtest, train or sweep folder with manifest.json")
    verify.add_argument("--spec", action="append", default=[],
                        help="a backtest spec whose custom strategies' code the re-run may "
                             "run (repeatable): a results folder never chooses code")
    verify.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fin_hgrpo.verify import verify

    result = verify(args.folder, run=args.main, specs=args.spec)
    for line in result.lines():
        print(line)
    print("verified: identical" if result.identical else "verified: the results differ")
    return 0 if result.identical else 1
