"""``fin-hgrpo init``: write a workspace."""

from __future__ import annotations

import argparse
from pathlib import Path

from fin_hgrpo.cli.options import Options


def register(commands, options: Options) -> None:
    init = commands.add_parser("init", parents=[options.common],
                               help="write a workspace: the default specs and data folder")
    init.add_argument("folder", help="the workspace to create or complete, e.g. . or study")
    init.add_argument("--force", action="store_true",
                      help="overwrite files already there with the defaults")
    init.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fin_hgrpo.workspace import init_workspace, template_files

    written = init_workspace(args.folder, force=args.force)
    kept = len(template_files()) - len(written)
    for path in written:
        print(f"wrote {path}")
    if kept:
        print(f"kept {kept} file(s) already there (--force overwrites them)")
    enter = "" if Path(args.folder).resolve() == Path.cwd() else f"cd {args.folder} && "
    print(f"workspace: {args.folder}; try: {enter}fin-hgrpo backtest "
          "backtests/default.toml --quick")
    return 0
