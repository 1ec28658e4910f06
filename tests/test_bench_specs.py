"""The benchmarks' experiments are spec files (bench/specs/): every one must load, and
every variant a result file names must exist, so no figure in the docs points at a
spec that has moved on."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from fin_hgrpo.algos import load_agent_config
from fin_hgrpo.errors import SpecError
from fin_hgrpo.workspace import template_files

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_agents", REPO / "bench" / "agents.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_every_agent_variant_is_a_valid_agent_spec(bench):
    assert {"ppo", "grpo", "hybrid_grpo", "hybrid_grpo_wd_const"} <= set(bench.AGENTS)
    for name, path in bench.AGENTS.items():
        assert load_agent_config(path).algorithm in name


def test_the_sb3_reference_variants_are_files(bench):
    assert bench.SB3_AGENTS == {"sb3_ppo": 0.0, "sb3_ppo_wd": 10.0}


def test_every_ablation_loads_with_an_env_that_exists(bench):
    defaults = {p.as_posix() for p in template_files()}
    for name in bench.ABLATIONS:
        study = bench.load_ablation(name)
        assert study.env in defaults or (REPO / study.env).is_file(), name
        assert study.states > 0 and study.variants


def test_every_experiment_backtest_loads_from_the_clones_root(monkeypatch):
    """bench/specs/backtests/: walk-forward experiments run from the clone's root, with
    their own envs and agent variants (bench/specs/envs, bench/specs/agents)."""
    from fin_hgrpo.backtest import BacktestSpec

    monkeypatch.chdir(REPO)
    specs = sorted((REPO / "bench" / "specs" / "backtests").glob("*.toml"))
    assert specs
    for path in specs:
        spec = BacktestSpec.load(path.relative_to(REPO))
        assert all((REPO / name).is_file() for name in spec.files()), path.name


def test_a_bad_variant_is_refused_naming_file_and_variant(bench, tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text('env = "envs/synthetic_iid.toml"\nstates = 10\n'
                   '[variants."too hot"]\nalgorithm = "ppo"\nlearning_rate = -1\n')
    monkeypatch.setitem(bench.ABLATIONS, "bad", bad)
    with pytest.raises(SpecError, match=r"bad.toml: variants.too hot: key agent.ppo.learning_rate"):
        bench.load_ablation("bad")


def test_every_result_names_specs_that_exist():
    for result in (REPO / "bench" / "results").glob("agents*.md"):
        named = re.findall(r"bench/specs/\S+?\.toml", result.read_text().split("\n|")[0])
        for path in named:
            assert (REPO / path).is_file(), f"{result.name}: {path}"


def test_every_experiment_sweep_loads_from_the_clones_root(monkeypatch):
    """bench/specs/sweeps/: the sampler comparison (bench/samplers.py) and its pruned
    study (docs/scaling.md)."""
    from fin_hgrpo.studies.sweep import SweepSpec

    monkeypatch.chdir(REPO)
    specs = sorted((REPO / "bench" / "specs" / "sweeps").glob("*.toml"))
    assert specs
    for path in specs:
        spec = SweepSpec.load(path.relative_to(REPO))
        assert spec.budget() > spec.parallel, path.name
