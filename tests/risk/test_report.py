"""fin-hgrpo risk on a backtest's strategy and on a user's weights file, and the
backtest report's links to risk reports: the page's content is asserted."""

import json

import pandas as pd
import pytest

from fin_hgrpo.backtest import BacktestSpec, run_backtest, save_backtest
from fin_hgrpo.cli import main
from fin_hgrpo.risk import write_risk_reports


@pytest.fixture
def results(classical_run):
    """The shared classical backtest's folder: read here, never written."""
    return classical_run.folder


def test_a_backtest_strategy_gets_a_whole_report(results, capsys, tmp_path):
    folder = tmp_path / "min_variance"
    assert main(["risk", f"{results}:min_variance", "--out", str(folder)]) == 0
    printed = capsys.readouterr().out
    assert "Ex-ante volatility" in printed and "Kupiec p =" in printed
    page = (folder / "report.html").read_text()
    for heading in ("Where the risk comes from", "What a crisis would do",
                    "Whether the VaR holds", "Realised"):
        assert f"<h2>{heading}</h2>" in page
    assert "2020-02-19 .. 2020-03-23 (COVID crash)" in page
    contributions = pd.read_csv(folder / "contributions.csv", index_col=0)
    summary = json.loads((folder / "summary.json").read_text())
    assert contributions["volatility_contribution"].sum() == pytest.approx(summary["volatility"])
    assert contributions["volatility_share"].sum() == pytest.approx(1.0)
    weights = pd.read_csv(results / "weights" / "min_variance.csv", index_col=0).iloc[-1]
    assert contributions["weight"].to_dict() == pytest.approx(weights.to_dict())
    stress = pd.read_csv(folder / "stress.csv")
    assert set(stress["portfolio"]) == {"portfolio", "1/N", "benchmark"}
    tests = pd.read_csv(folder / "var_backtest.csv")
    assert tests["method"].tolist() == ["historical", "parametric"]
    assert (tests["days"] > 250).all()


def test_the_backtest_report_links_a_risk_report_per_strategy(tmp_path):
    result = run_backtest(BacktestSpec.load("backtests/tiny_classical.toml"), workers=1,
                          progress=False)
    results = save_backtest(result, tmp_path / "tiny", tearsheets=False,
                            extras=[write_risk_reports])
    page = (results / "report.html").read_text()
    assert "<h2>Risk reports</h2>" in page
    risk_page = (results / "risk" / "equal_weight" / "report.html").read_text()
    assert f"Source {results}:equal_weight;" in risk_page  # not the staging folder's name
    for strategy in ("equal_weight", "min_variance", "benchmark"):
        assert f"href='risk/{strategy}/report.html'" in page
        assert (results / "risk" / strategy / "report.html").is_file()


def test_a_weights_file_with_own_windows(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    pd.DataFrame({"AAPL": [0.5], "JPM": [0.3], "cash": [0.2]},
                 index=pd.DatetimeIndex(["2015-01-02"], name="date")).to_csv(path)
    out = tmp_path / "report"
    assert main(["risk", str(path), "--env", "envs/default.toml", "--out", str(out),
                 "--window", "August 2015=2015-08-17:2015-08-25"]) == 0
    stress = pd.read_csv(out / "stress.csv")
    assert stress["window"].unique().tolist() == ["August 2015"]
    row = stress.set_index("portfolio").loc["portfolio"]
    assert row["covered"] and row["loss"] < 0
    shocks = pd.read_csv(out / "shocks.csv")
    assert shocks["loss"].tolist() == pytest.approx([-0.08, -0.15])


def test_bad_options_are_refused(tmp_path, results):
    out = ["--out", str(tmp_path / "report")]
    assert main(["risk", f"{results}:nope", *out]) == 2
    assert main(["risk", str(results), *out]) == 2
    assert main(["risk", f"{results}:equal_weight", "--window", "no dates", *out]) == 2
    assert main(["risk", f"{results}:equal_weight", "--var-level", "95", *out]) == 2
    assert not (tmp_path / "report").exists()


def test_a_strategy_whose_report_cannot_be_made_is_skipped_with_a_warning(results, tmp_path):
    import shutil

    from fin_hgrpo.risk.report import write_risk_reports

    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    metrics = pd.read_csv(copy / "metrics.csv", index_col=0)
    metrics.loc[["equal_weight", "momentum"]].to_csv(copy / "metrics.csv")  # two strategies
    (copy / "weights" / "momentum.csv").unlink()  # its report has nothing to read
    with pytest.warns(UserWarning, match="no risk report for momentum"):
        written = write_risk_reports(copy)
    assert [p.parent.name for p in written] == ["equal_weight"]
