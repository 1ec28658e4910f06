"""Task checkpoints: data that cannot run code, keyed by everything behind a result."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.envs.trading import Position
from fin_hgrpo.strategies.config import CustomSpec, EqualWeightSpec
from fin_hgrpo.walkforward.checkpoints import (
    MAC_BYTES,
    TaskStore,
    read_results,
    write_results,
)
from fin_hgrpo.walkforward.results import FoldResult
from fin_hgrpo.walkforward.tasks import Context, Task

DATES = pd.bdate_range("2024-01-01", periods=6)


def _panel(last_price: float = 104.0) -> MarketPanel:
    prices = pd.DataFrame({"AAA": [100.0, 101, 102, 103, 103.5, last_price],
                           "BBB": [50.0, 50.5, 49, 51, 52, 53]}, index=DATES)
    return MarketPanel(prices)


def _result(agent: bytes | None = b"\x00tensors") -> FoldResult:
    daily = pd.DataFrame({"net_return": [0.01, -0.002], "turnover": [0.5, 0.0],
                          "cost": [5e-4, 0.0]}, index=pd.bdate_range(DATES[1], periods=2))
    weights = pd.DataFrame([[0.5, 0.4, 0.1], [0.51, 0.39, 0.1]], index=DATES[:2],
                           columns=["AAA", "BBB", "cash"])
    training = pd.DataFrame({"iteration": [1, 2], "validation_log_growth": [0.1, np.nan]})
    return FoldResult("agent", "agent_seed0", 0, 0, daily, weights, training, None, 1.25,
                      Position(DATES[0], np.array([0.2, 0.3, 0.5])), agent)


def _context(panel: MarketPanel | None = None) -> Context:
    env = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_assets": 2}})
    return Context(env, {"": panel or _panel()})


def _task(spec=None) -> Task:
    return Task("equal_weight", "equal_weight", spec or EqualWeightSpec(kind="equal_weight"),
                (), "", "daily", 0.0)


def test_a_task_result_reads_back_exactly():
    results = [_result(), FoldResult("x", "x", 1, None, None, None, None, "Traceback ...",
                                     0.5)]
    back = read_results(write_results(results))
    assert back[0].agent == results[0].agent and back[0].seconds == 1.25
    for name in ("daily", "weights", "training"):
        pd.testing.assert_frame_equal(getattr(back[0], name), getattr(results[0], name),
                                      check_exact=True)
    assert back[0].start.date == DATES[0]
    np.testing.assert_array_equal(back[0].start.weights, [0.2, 0.3, 0.5])
    assert back[1] == results[1]


def test_a_planted_pickle_under_a_task_name_is_never_run(tmp_path):
    store = TaskStore(tmp_path, _context())
    store.save(_task(), [_result()])
    (path,) = tmp_path.glob("*.zip")
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path.write_bytes(pickle.dumps(Payload()))
    with pytest.warns(UserWarning, match="not signed by this user's key"):
        assert store.load(_task()) is None  # the task runs again
    assert not marker.exists()


def test_an_edited_checkpoint_is_not_taken_as_a_finished_task(tmp_path):
    """reliability.md N12: a checkpoint re-zipped with edited returns (+1% a day) was
    taken as finished (Sharpe 21.5). Its signature no longer matches: the task runs again."""
    store = TaskStore(tmp_path, _context())
    store.save(_task(), [_result()])
    (path,) = tmp_path.glob("*.zip")
    forged = _result()
    forged.daily["net_return"] += 0.01
    path.write_bytes(path.read_bytes()[:MAC_BYTES] + write_results([forged]))
    with pytest.warns(UserWarning, match="not signed by this user's key"):
        assert store.load(_task()) is None


def test_an_edited_dated_file_does_not_reuse_a_result(tmp_path, monkeypatch):
    """reliability.md N37: a borrow, shortable, cash-rate or membership file edited after
    a kill reused the checkpoints of the old file. The key hashes each file's content."""
    monkeypatch.chdir(tmp_path)
    rates = tmp_path / "rates.csv"
    rates.write_text("date,rate\n2024-01-01,5.0\n")
    env = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_assets": 2},
                                  "costs": {"cash_rate": "rates.csv"}})
    store = TaskStore(tmp_path / "parts", Context(env, {"": _panel()}))
    store.save(_task(), [_result()])
    assert store.load(_task()) is not None
    rates.write_text("date,rate\n2024-01-01,50.0\n")
    assert TaskStore(tmp_path / "parts", Context(env, {"": _panel()})).load(_task()) is None


def test_corrected_prices_or_edited_strategy_code_do_not_reuse_a_result(tmp_path,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text("X = 1\n")
    custom = _task(CustomSpec(kind="custom", path="mine.py:Mine"))
    store = TaskStore(tmp_path / "parts", _context())
    store.save(_task(), [_result()])
    store.save(custom, [_result()])
    assert store.load(_task()) is not None and store.load(custom) is not None
    corrected = TaskStore(tmp_path / "parts", _context(_panel(last_price=90.0)))
    assert corrected.load(_task()) is None
    (tmp_path / "mine.py").write_text("X = 2\n")
    assert store.load(custom) is None
    assert store.load(_task()) is not None  # what did not change is still reused
