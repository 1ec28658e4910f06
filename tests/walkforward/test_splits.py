import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fin_hgrpo.backtest import WalkForward
from fin_hgrpo.errors import SpecError


@given(n=st.integers(60, 400), train=st.integers(5, 80), test=st.integers(1, 40),
       extra=st.integers(0, 20), embargo=st.integers(0, 10),
       mode=st.sampled_from(["rolling", "expanding"]))
def test_folds_never_train_on_their_test_days_and_tile_the_end(n, train, test, extra,
                                                               embargo, mode):
    dates = pd.bdate_range("2020-01-01", periods=n)
    splitter = WalkForward(train, test, test + extra, embargo, mode)
    try:
        folds = splitter.split(dates)
    except SpecError:
        assert n - 1 - train - embargo < test
        return
    position = {d: i for i, d in enumerate(dates)}
    for fold in folds:
        train_end, test_start = position[fold.train_end], position[fold.test_start]
        assert test_start - train_end - 1 == embargo  # the gap, exactly
        assert position[fold.test_end] - test_start + 1 == test  # full test windows
        length = train_end - position[fold.train_start] + 1
        assert length == train if mode == "rolling" else length >= train
        if mode == "expanding":
            assert fold.train_start == dates[0]
    assert position[folds[-1].test_end] == n - 2  # the last decision day
    for before, after in zip(folds, folds[1:], strict=False):
        assert position[after.test_start] - position[before.test_start] == test + extra
        assert after.test_start > before.test_end  # no overlap: one stitched series


def test_bad_settings_fail_with_the_reason():
    with pytest.raises(SpecError, match="overlapping"):
        WalkForward(100, 50, step=20)
    with pytest.raises(SpecError, match="too few"):
        WalkForward(100, 50).split(pd.bdate_range("2020-01-01", periods=120))


def test_fold_describes_itself():
    folds = WalkForward(10, 5, embargo=1).split(pd.bdate_range("2024-01-01", periods=30))
    assert str(folds[0]).startswith("fold 0: train 2024-01-")
    assert len(folds) == 3


@pytest.mark.parametrize("text, periods, bars", [
    ("3y", 252, 756), ("6mo", 252, 126), ("1y", 52, 52), ("26w", 52, 26), ("2y", 365, 730),
    (300, 52, 300)])
def test_walk_forward_lengths_as_durations_or_bars(text, periods, bars):
    from fin_hgrpo.walkforward.config import WalkForwardSpec

    spec = WalkForwardSpec(train_days=text, test_days=text)
    splitter = spec.splitter(periods)
    assert (splitter.train, splitter.test) == (bars, bars)


def test_a_bad_duration_is_named():
    from fin_hgrpo.errors import SpecError
    from fin_hgrpo.walkforward.config import WalkForwardSpec

    with pytest.raises(SpecError, match="'3 years'.*like 3y, 6mo or 26w"):
        WalkForwardSpec(train_days="3 years").splitter(252)
