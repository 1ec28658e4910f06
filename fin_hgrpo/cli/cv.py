"""``fin-hgrpo cv plan``: a spec's combinatorial purged cross-validation laid out,
without training anything."""

from __future__ import annotations

import argparse

from fin_hgrpo.cli.options import Options


def register(commands, options: Options) -> None:
    cv = commands.add_parser("cv", help="combinatorial purged cross-validation (CPCV)")
    actions = cv.add_subparsers(dest="action", required=True)
    plan = actions.add_parser("plan", parents=[options.common],
                              help="print a spec's groups, splits, paths and members")
    plan.add_argument("spec", help="backtest spec with a [cv] table")
    plan.add_argument("--quick", action="store_true",
                      help="the members of a --quick run (the spec's [quick] steps)")
    plan.add_argument("--target", nargs=2, type=int, metavar=("TRAIN_DAYS", "PATHS"),
                      help="also print the groups and test groups that come closest to "
                           "TRAIN_DAYS training days per split and PATHS paths "
                           "(skfolio's optimal_folds_number)")
    plan.set_defaults(run=print_plan)


def print_plan(args: argparse.Namespace) -> int:
    import pandas as pd

    from fin_hgrpo.backtest import BacktestSpec
    from fin_hgrpo.errors import SpecError
    from fin_hgrpo.studies.cpcv import cv_plan_of, plan_cv

    if args.target is not None and min(args.target) < 1:
        raise SpecError(f"--target {args.target[0]} {args.target[1]}: give at least 1 "
                        "training day and 1 path")
    spec = BacktestSpec.load(args.spec)
    if spec.cv is None:
        raise SpecError(f"{args.spec}: no [cv] table (e.g. [cv] groups = 6, test_groups = 2)")
    env = spec.env_spec()
    panel = env.load_panel()
    plan = cv_plan_of(spec.cv, env, panel)
    cv, tables = spec.cv, plan.tables()
    splits = tables["splits"]
    splits.insert(3, "train_days", [sum(len(panel.slice(a, b)) for a, b in s.train)
                                    for s in plan.splits])
    print(f"CPCV of {spec.name}: {cv.groups} groups, {cv.test_groups} tested per split, "
          f"purge {cv.purge_days} and embargo {cv.embargo_days} days: "
          f"{len(plan.splits)} splits, {plan.n_paths} paths")
    with pd.option_context("display.width", 160, "display.max_colwidth", 80):
        for name in ("groups", "splits", "paths"):
            caption = "paths (the split trading each group)" if name == "paths" else name
            print(f"\n{caption}:\n{tables[name].to_string(index=False)}")
    print("\nmembers:")
    for task in plan_cv(spec, plan, quick=args.quick):
        if task.runs:
            print(f"  {task.strategy}: seeds {[r.config.seed for r in task.runs]} x "
                  f"{len(plan.splits)} splits = {len(task.runs) * len(plan.splits)} members "
                  f"trained as one population, {task.steps} states each")
        else:
            print(f"  {task.strategy}: {plan.n_paths} paths, no training")
    if args.target is not None:
        from skfolio.model_selection import optimal_folds_number

        train_days, paths = args.target
        days = sum(g.days for g in plan.groups)
        groups, tests = optimal_folds_number(days, target_train_size=train_days,
                                             target_n_test_paths=paths)
        print(f"\nfor about {train_days} training days per split and {paths} paths over "
              f"{days} decision days: groups = {groups}, test_groups = {tests}")
    return 0
