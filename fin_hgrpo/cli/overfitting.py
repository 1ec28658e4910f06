"""``fin-hgrpo pbo``: how likely the best of a search is overfit."""

from __future__ import annotations

import argparse

from fin_hgrpo.cli.options import Options


def register(commands, options: Options) -> None:
    pbo = commands.add_parser("pbo", parents=[options.common],
                              help="probability of backtest overfitting of a result "
                                   "folder's configurations (CSCV)")
    pbo.add_argument("folder", help="a backtest or sweep result folder")
    pbo.add_argument("--strategies", nargs="+", metavar="PATTERN",
                     help="the configurations, shell patterns over strategy names "
                          "(default: a selecting agent's candidates, a sweep's trials, "
                          "else every strategy)")
    pbo.add_argument("--blocks", type=int, default=16,
                     help="S, the even number of blocks the days are cut into (default 16)")
    pbo.set_defaults(run=print_pbo)


def print_pbo(args: argparse.Namespace) -> int:
    from fin_hgrpo.measures.overfitting import FEW_CONFIGURATIONS
    from fin_hgrpo.studies.overfit import folder_overfitting

    result = folder_overfitting(args.folder, args.strategies, blocks=args.blocks)
    found = result.found
    print(f"PBO of {found.configurations} configurations ({', '.join(result.names)}) on "
          f"{result.days} days, {found.blocks} blocks, {found.halvings} halvings; scored "
          f"by the {result.seeds}")
    print(f"  probability of backtest overfitting   {found.pbo:.3f}")
    print(f"  performance degradation (OOS on IS)   slope {found.degradation_slope:+.3f}, "
          f"intercept {found.degradation_intercept:+.4f}")
    print(f"  P(in-sample winner loses out of sample) {found.probability_of_loss:.3f}")
    first = "yes" if found.dominance_first <= 0 else f"no (gap {found.dominance_first:.3f})"
    second = "yes" if found.dominance_second <= 1e-12 else \
        f"no (gap {found.dominance_second:.4f})"
    print(f"  winners dominate all configurations   first order: {first}; "
          f"second order: {second}")
    if found.configurations < FEW_CONFIGURATIONS:
        print(f"warning: {found.configurations} configurations: below "
              f"{FEW_CONFIGURATIONS} the ranks are coarse and one neighbour can flip PBO")
    return 0
