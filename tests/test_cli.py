import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from fin_hgrpo.cli import main


def test_data_info_sample_json(capsys):
    assert main(["data", "info", "sample", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_assets"] >= 10 and summary["n_rows"] >= 2500
    assert summary["assets"][0] == "AAPL" and summary["start"] == "2014-09-19"
    assert summary["dropped"] > 0 and summary["filled"] == {}


def test_data_info_readable_summary_of_a_synthetic_market(capsys):
    assert main(["data", "info", "synthetic:signal"]) == 0
    out = capsys.readouterr().out
    assert "5: S0, S1, S2, S3, S4" in out and "signals    signal" in out


def test_data_info_ffill_reports_what_it_filled(tmp_path, capsys):
    path = tmp_path / "gappy.csv"
    pd.DataFrame({"date": ["2024-01-02", "2024-01-03", "2024-01-04"], "A": [1.0, None, 1.2],
                  "B": [2.0, 2.1, 2.2]}).to_csv(path, index=False)
    assert main(["data", "info", f"csv:{path}", "--json", "--align", "ffill"]) == 0
    assert json.loads(capsys.readouterr().out)["filled"] == {"A": 1}


@pytest.mark.parametrize(
    ("source", "message"),
    [("csv:missing.csv", "missing.csv: file not found"),
     ("parquet", "unknown data source 'parquet'"),
     ("synthetic:garch", "unknown kind 'garch'"),
     ("yfinance:AAPL", "give a start date")],
)
def test_bad_input_exits_non_zero_with_one_line(source, message, capsys):
    assert main(["data", "info", source]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_the_traceback():
    run = subprocess.run([sys.executable, "-m", "fin_hgrpo.cli", "data", "info", "csv:nope.csv",
                          "--debug"], capture_output=True, text=True)
    assert run.returncode != 0 and "Traceback" in run.stderr


def test_data_fetch_says_what_came_from_where(recorder, tmp_path, capsys):
    args = ["data", "fetch", "AAPL", "JPM", "--start", "2023-01-03", "--end", "2023-02-01",
            "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    assert "AAPL: 0 rows from cache, downloaded 20 rows (2023-01-03..2023-02-01)" in \
        capsys.readouterr().out
    assert main(args) == 0
    assert "JPM: 20 rows from cache, nothing downloaded" in capsys.readouterr().out


@pytest.mark.parametrize("seeds", ["a-b", "3,3", "1-0", "0-100000", "4294967296",
                                   "0-4294967295"])
def test_backtest_seeds_option_refuses_what_is_not_a_seed_list(seeds, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["backtest", "backtests/default.toml", "--seeds", seeds])
    assert exit_info.value.code == 2
    assert "seeds" in capsys.readouterr().err


def test_the_shipped_full_history_backtest_runs_as_a_point_in_time_universe(classical_run):
    out = classical_run.folder
    assert "survivors picked in hindsight" in classical_run.printed
    returns = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=True)
    assert len(returns) == 2 * 252 and returns.notna().all().all()
    run = json.loads((out / "run.json").read_text())
    assert run["alignment"].startswith("align=listed") and run["periods_per_year"] == 252


@pytest.mark.slow  # two universes of the bundled sample, its two last folds
def test_the_shipped_many_universes_backtest_runs_quick(tmp_path, capsys):
    out = tmp_path / "universes"
    assert main(["backtest", "backtests/universes.toml", "--quick", "--universes", "2",
                 "--workers", "1", "--out", str(out)]) == 0
    summary = pd.read_csv(out / "summary.csv", index_col="strategy")
    assert {"forecast_ridge", "forecast_gbm", "hrp", "risk_parity"} <= set(summary.index)
    assert (summary["universes"] == 2).all()
    drawn = pd.read_csv(out / "universes.csv")["tickers"].str.split()
    assert all(len(tickers) == 10 for tickers in drawn)
    assert "report: " in capsys.readouterr().out


def test_data_info_shows_a_point_in_time_universe(tmp_path, capsys):
    """Issue 34: the command that inspects data can show a listed panel: when each
    ticker has prices, is tradable and halted, and what a delisting settles."""
    dates = pd.bdate_range("2020-01-01", periods=20)
    frame = pd.DataFrame({"A": range(100, 120), "LATE": [None] * 10 + list(range(50, 60)),
                          "GONE": [20, 21, 22, 23, 24, None, None, *range(27, 35)] + [None] * 5},
                         index=dates.rename("date"))
    path = tmp_path / "ragged.csv"
    frame.to_csv(path)
    assert main(["data", "info", f"csv:{path}", "--align", "listed", "--start",
                 "2020-01-01"]) == 0
    out = capsys.readouterr().out
    assert "LATE     prices 2020-01-15 .. the end; tradable 10 days, halted 0" in out
    assert "GONE     prices 2020-01-01 .. 2020-01-21 (delisted); tradable 13 days, halted 2" \
        in out
    assert "settled into cash at its last price times 1 + delisting_return" in out
    assert main(["data", "info", f"csv:{path}", "--align", "listed", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)["listing"]
    assert listing["LATE"] == {"first": "2020-01-15", "last": "2020-01-28",
                               "tradable_days": 10, "halted_days": 0, "delisted": False}


OUT_COMMANDS = {  # every command that writes a folder, and its arguments before --out
    "backtest": ["backtest", "backtests/tiny_classical.toml"],
    "universes": ["backtest", "backtests/tiny_classical.toml", "--universes", "2",
                  "--size", "2"],
    "cpcv": ["backtest", "cv.toml"],
    "sweep": ["sweep", "sweep.toml"],
    "risk": ["risk", "{run}:equal_weight"],
    "weights": ["weights", "{run}", "--strategy", "equal_weight"],
}


@pytest.mark.parametrize("command", list(OUT_COMMANDS))
def test_an_out_folder_that_is_not_a_result_is_refused_before_any_work(
        command, classical_run, tmp_path, monkeypatch, capsys):
    """reliability.md N55: ``--universes`` skipped the guard and replaced a user's
    report.html and summary.csv. Every command that writes checks ``--out`` first."""
    from tests.conftest import write_tiny_specs

    write_tiny_specs(tmp_path)
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    mine = {"notes.txt": "mine", "report.html": "<html>mine</html>", "summary.csv": "a\n1\n"}
    for name, text in mine.items():
        (victim / name).write_text(text)
    (tmp_path / "sweep.toml").write_text(
        'name = "s"\nbacktest = "backtests/tiny_agents.toml"\n'
        'agent = "strategies/ppo_tiny.toml"\n[space]\nlearning_rate = [1e-3]\n')
    (tmp_path / "cv.toml").write_text(Path("backtests/tiny_classical.toml").read_text()
                                      + "\n[cv]\ngroups = 4\ntest_groups = 2\n")
    argv = [a.format(run=classical_run.folder) for a in OUT_COMMANDS[command]]
    assert main([*argv, "--out", "victim"]) == 2
    assert "victim: holds files but no" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert {p.name: p.read_text() for p in victim.iterdir()} == mine


@pytest.mark.parametrize(("extra", "message"), [
    (["--seed", "-5"], "--seed must be 0 .. 2**32 - 1"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--steps", "-5"], "--steps must be at least 1"),
    pytest.param(["--device", "cuda"], "--device cuda: this torch build sees no CUDA",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has CUDA")),
])
def test_train_refuses_what_it_cannot_mean_before_any_work(extra, message, tmp_path,
                                                           monkeypatch, capsys):
    from tests.conftest import write_tiny_specs

    write_tiny_specs(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "strategies/ppo_tiny.toml", "--env", "envs/tiny.toml", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("window", "message"), [
    ("crash=2020-13-45:2020-04-01", "is not a date"),
    ("crash=2020-04-01:2020-02-01", "2020-04-01 is not before 2020-02-01"),
    ("crash", "use NAME=START:END"),
])
def test_risk_refuses_a_window_that_is_not_one(window, message, capsys):
    assert main(["risk", "backtests/results/x:equal_weight", "--window", window]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("damage", "command"), [
    (("run.json", '{"name": "full'), ["report"]),
    (("run.json", '{"name": "x"}'), ["risk"]),
    (("manifest.json", "{"), ["verify"]),
    (("deploy/state.json", '{"env": '), ["weights"]),
    (("returns.csv", 'date,equal_weight\n2020-01-02,0.01\n2020-01-03,"0.0'), ["report"]),
])
def test_a_truncated_or_keyless_result_file_is_one_line_naming_it(classical_run, tmp_path,
                                                                  damage, command, capsys):
    """reliability.md, case 25: these used to end in JSONDecodeError, KeyError or
    AttributeError tracebacks."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(classical_run.folder, copy)
    name, text = damage
    (copy / name).write_text(text)
    target = f"{copy}:equal_weight" if command == ["risk"] else str(copy)
    assert main([*command, target]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and name.split("/")[-1] in err


def test_data_info_does_not_annualise_two_rows(tmp_path, capsys):
    path = tmp_path / "two.csv"
    path.write_text("date,A\n2024-01-02,10\n2024-01-03,9\n")
    assert main(["data", "info", f"csv:{path}"]) == 0
    out = capsys.readouterr().out
    assert "2 rows are too few to annualise" in out and "%" not in out


@pytest.mark.parametrize("argv", [  # reliability.md N61, N62
    ["data", "info", "sample", "--start", "2020-01-01T00:00+05:00"],
    ["data", "info", "sample", "--ffill-limit", "-1"],
    ["weights", "x", "--asof", "2024-06-03T00:00+05:00"],
    ["weights", "x", "--asof", ""],
])
def test_a_date_with_a_time_zone_or_a_negative_count_is_refused_by_argparse(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "has a time zone" in err or "is not a date" in err or "0 or more" in err


def test_the_help_opens_with_what_the_command_does_and_its_three_most_used(capsys):
    """The description was the CLI package's docstring, cut mid-sentence, with
    reStructuredText quotes."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and "one module per command" not in out
    assert "Train trading agents (PPO, GRPO, Hybrid GRPO) on historical prices" in out
    for example in ("fin-hgrpo backtest backtests/default.toml",
                    "fin-hgrpo risk backtests/results/default:hybrid_grpo",
                    "fin-hgrpo weights backtests/results/default --strategy hybrid_grpo"):
        assert example in out
    assert "Documentation: README.md and docs/" in out
