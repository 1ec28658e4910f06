import json
import math

import pandas as pd
import pytest
import torch

from fin_hgrpo.algos.runs import load_agent, start_run, train
from fin_hgrpo.cli import main

# the tiny Hybrid GRPO on the tiny market: 32 states an iteration, 4 actions each
ARGS = ["strategies/hgrpo_tiny.toml", "--env", "envs/tiny.toml", "--steps", "128"]


def test_train_writes_checkpoint_config_metrics_and_curve(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *ARGS, "--seed", "3", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt", "config.json", "metrics.csv",
                                               "learning_curve.png", "manifest.json"}
    config = json.loads((out / "config.json").read_text())
    assert config["agent"]["seed"] == 3 and config["agent"]["algorithm"] == "hybrid_grpo"
    assert config["env"]["data"]["source"] == "synthetic:iid" and config["states"] == 128
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["iteration"]) == [1, 2, 3, 4]
    assert {"mean_log_growth", "approx_kl", "entropy", "states_per_second",
            "actions_scored"} <= set(metrics.columns)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["counters"]["iteration"] == 4
    agent = load_agent(out)
    weights = agent.act(torch.tensor([agent.sim.first_decision]),
                        torch.tensor([[0.0, 0, 0, 1]]))
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert "4 iterations, 128 states, 512 actions scored" in capsys.readouterr().out


def test_same_seed_and_inputs_give_byte_identical_checkpoints(tmp_path):
    for name in ("a", "b"):
        assert main(["train", *ARGS, "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a/checkpoint.pt").read_bytes() == \
        (tmp_path / "b/checkpoint.pt").read_bytes()


def test_a_killed_run_resumes_to_the_same_checkpoint(tmp_path):
    assert main(["train", *ARGS, "--out", str(tmp_path / "whole")]) == 0
    run = start_run("strategies/hgrpo_tiny.toml", "envs/tiny.toml", tmp_path / "cut",
                    states=128)
    train(run, progress=False, max_iterations=2)  # as if killed after two iterations
    assert torch.load(run / "checkpoint.pt", weights_only=True)["counters"]["iteration"] == 2
    assert main(["train", "--resume", str(run)]) == 0
    _assert_same(torch.load(run / "checkpoint.pt", weights_only=True),
                 torch.load(tmp_path / "whole/checkpoint.pt", weights_only=True))
    assert pd.read_csv(run / "metrics.csv")["states_per_second"].notna().all()


def _assert_same(a, b, path="checkpoint"):
    """Equal content: every tensor, number (NaN equal to NaN) and key, recursively."""
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            _assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, path


def test_bad_train_input_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[agent]\nalgorithm = "hybrid_grpo"\nadvantage = "best"\n')
    assert main(["train", str(bad), "--env", "envs/tiny.toml"]) == 2
    assert "bad.toml: key agent.hybrid_grpo.advantage" in capsys.readouterr().err
    assert main(["train", "strategies/ppo.toml"]) == 2
    assert "--env" in capsys.readouterr().err
    out = tmp_path / "twice"
    assert main(["train", *ARGS, "--out", str(out)]) == 0
    assert main(["train", *ARGS, "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_a_checkpoint_of_another_agent_is_refused_naming_the_file(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *ARGS, "--out", str(out)]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    groups = state["optimizer"]["param_groups"]  # as an older, single-group Adam wrote it
    groups[0]["params"] += groups.pop()["params"]
    torch.save(state, out / "checkpoint.pt")
    assert main(["train", "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.pt: does not fit the agent its config describes" in err


def test_train_seeds_writes_one_run_directory_per_member(tmp_path, capsys):
    out = tmp_path / "population"
    assert main(["train", *ARGS, "--seeds", "0-2", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"population.json", "seed0", "seed1", "seed2",
                                               "manifest.json"}
    for seed in range(3):
        member = out / f"seed{seed}"
        assert json.loads((member / "config.json").read_text())["agent"]["seed"] == seed
        assert list(pd.read_csv(member / "metrics.csv")["iteration"]) == [1, 2, 3, 4]
        assert (member / "learning_curve.png").is_file()
        assert load_agent(member).config.seed == seed
    printed = capsys.readouterr().out
    assert "(seed 2): 4 iterations, 128 states, 512 actions scored" in printed


def test_a_killed_population_resumes_to_the_same_checkpoints(tmp_path):
    from fin_hgrpo.algos.runs import start_population

    assert main(["train", *ARGS, "--seeds", "0,1", "--out", str(tmp_path / "whole")]) == 0
    cut = start_population("strategies/hgrpo_tiny.toml", "envs/tiny.toml", tmp_path / "cut",
                           seeds=[0, 1], states=128)
    train(cut, progress=False, max_iterations=2)
    assert main(["train", "--resume", str(cut)]) == 0
    for member in ("seed0", "seed1"):
        _assert_same(torch.load(cut / member / "checkpoint.pt", weights_only=True),
                     torch.load(tmp_path / "whole" / member / "checkpoint.pt",
                                weights_only=True))


def test_a_population_member_agrees_with_its_seed_trained_alone_after_one_update(tmp_path):
    one = ["strategies/hgrpo_tiny.toml", "--env", "envs/tiny.toml", "--steps", "32"]
    assert main(["train", *one, "--seeds", "0,1", "--out", str(tmp_path / "population")]) == 0
    assert main(["train", *one, "--seed", "1", "--out", str(tmp_path / "alone")]) == 0
    member = load_agent(tmp_path / "population" / "seed1")
    alone = load_agent(tmp_path / "alone")
    for a, b in zip(member.trained_parameters, alone.trained_parameters, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=0)
