"""``fin-hgrpo train``: train an agent (or a population of seeds) on an env spec."""

from __future__ import annotations

import argparse
from pathlib import Path

from fin_hgrpo.cli.options import Options, seed_list
from fin_hgrpo.errors import SpecError


def register(commands, options: Options) -> None:
    train = commands.add_parser("train", parents=[options.common, options.board],
                                help="train a PPO, GRPO or Hybrid GRPO agent on an env spec")
    train.add_argument("spec", nargs="?", help="agent spec, e.g. strategies/hgrpo.toml")
    train.add_argument("--env", help="env spec, e.g. envs/default.toml")
    train.add_argument("--steps", type=int, help="market states to visit in all "
                                                  "(default: 100 iterations)")
    train.add_argument("--seed", type=int)
    train.add_argument("--seeds", type=seed_list,
                       help="train one member per seed as one population: 0-7 or 0,3,7")
    train.add_argument("--out", help="run directory (default runs/<spec>-<env>-s<seed>, "
                                     "-s<first>-<last> for --seeds)")
    train.add_argument("--device", choices=("cpu", "cuda"))
    train.add_argument("--resume", metavar="DIR", help="continue a run from its checkpoint")
    train.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fin_hgrpo.algos.runs import train

    folder = Path(args.resume) if args.resume else _start(args)
    trained = train(folder, tensorboard=args.tensorboard)
    for agent in trained if isinstance(trained, list) else [trained]:
        last = agent.history[-1]
        print(f"{folder} (seed {agent.config.seed}): {agent.iteration} iterations, "
              f"{agent.states_seen} states, {agent.actions_scored} actions scored; last mean "
              f"log growth {last['mean_log_growth']:.2e}/day")
    return 0


def _start(args: argparse.Namespace) -> Path:
    """A new run's folder (a population's with --seeds) with its manifest."""
    from fin_hgrpo.algos import load_agent_config
    from fin_hgrpo.algos.runs import start_population, start_run
    from fin_hgrpo.envs import EnvSpec
    from fin_hgrpo.provenance import build_manifest, panel_sha256, write_manifest

    if not args.spec or not args.env:
        raise SpecError("train needs an agent spec and --env ENV_SPEC (or --resume DIR)")
    if args.seeds is not None and args.seed is not None:
        raise SpecError("give --seed or --seeds, not both")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise SpecError(f"--seed must be 0 .. 2**32 - 1, got {args.seed}")
    if args.steps is not None and args.steps < 1:
        raise SpecError(f"--steps must be at least 1 market state, got {args.steps}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SpecError("--device cuda: this torch build sees no CUDA device "
                            f"(torch {torch.__version__}); train on the CPU")
    stem = f"runs/{Path(args.spec).stem}-{Path(args.env).stem}"
    if args.seeds is not None:
        out = args.out or f"{stem}-s{args.seeds[0]}-{args.seeds[-1]}"
        folder = start_population(args.spec, args.env, out, seeds=args.seeds,
                                  states=args.steps, device=args.device)
    else:
        out = args.out or stem + ("" if args.seed is None else f"-s{args.seed}")
        folder = start_run(args.spec, args.env, out, states=args.steps, seed=args.seed,
                           device=args.device)
    env = EnvSpec.load(args.env)
    seeds = args.seeds or [load_agent_config(args.spec).seed if args.seed is None
                           else args.seed]
    write_manifest(folder, build_manifest(
        "train", command=args.argv, files=[args.spec, args.env, *env.files()],
        data_sha256=panel_sha256(env.load_panel()), seeds=seeds))
    return folder
