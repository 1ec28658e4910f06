"""manifest.json: what a run depended on, recorded by backtest, train and sweep."""

import hashlib
import json
from pathlib import Path

from fin_hgrpo.cli import main
from fin_hgrpo.data import load_sample
from fin_hgrpo.provenance import PACKAGES, changes, panel_sha256


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_backtest_records_its_manifest(classical_run):
    manifest = json.loads((classical_run.folder / "manifest.json").read_text())
    assert manifest["kind"] == "backtest"
    assert manifest["command"] == classical_run.argv
    assert Path(manifest["cwd"], "backtests", "full_history.toml").is_file()  # a workspace
    assert manifest["seeds"] == [0]
    assert set(manifest["packages"]) == set(PACKAGES)
    assert manifest["packages"]["torch"].startswith("2.")
    for key in ("python", "platform", "machine", "cpu"):
        assert manifest[key]
    assert manifest["files"] == {
        "backtests/full_history.toml": _sha("backtests/full_history.toml"),
        "envs/full_history.toml": _sha("envs/full_history.toml")}
    assert manifest["data_sha256"] == panel_sha256(load_sample(align="listed"))
    git = manifest["git"]  # the tests run from a checkout
    assert len(git["commit"]) == 40 and isinstance(git["dirty"], bool)


def test_a_train_run_records_its_manifest(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "strategies/ppo_tiny.toml", "--env", "envs/tiny.toml",
                 "--steps", "256", "--seed", "3", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "train" and manifest["seeds"] == [3]
    assert set(manifest["files"]) == {"strategies/ppo_tiny.toml", "envs/tiny.toml"}
    assert len(manifest["data_sha256"]) == 64


def test_the_price_digest_sees_one_changed_price():
    panel = load_sample(["AAPL", "GE"])
    prices = panel.prices
    prices.iloc[100, 1] *= 1.000001
    from fin_hgrpo.data import MarketPanel

    changed = MarketPanel.from_frame(prices)
    assert panel_sha256(changed) != panel_sha256(panel)
    assert panel_sha256(MarketPanel.from_frame(panel.prices)) == panel_sha256(panel)


def test_changes_name_what_moved(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("a = 1\n")
    recorded = {"python": "3.11.7", "cpu": "A", "packages": {"torch": "2.13.0", "numpy": "2.0"},
                "git": {"commit": "a" * 40, "dirty": False},
                "files": {str(spec): _sha(str(spec))}, "data_sha256": "x"}
    assert changes(recorded, recorded) == []
    spec.write_text("a = 2\n")
    now = recorded | {"cpu": "B", "packages": {"torch": "2.14.0", "numpy": "2.0"},
                      "git": {"commit": "b" * 40, "dirty": True}, "data_sha256": "y",
                      "files": {}}
    assert changes(recorded, now) == [
        "cpu: A -> B", "package torch: 2.13.0 -> 2.14.0",
        f"code: {'a' * 12} -> {'b' * 12} (dirty)", f"file {spec}: changed", "price data: changed"]
