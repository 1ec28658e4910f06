"""A results folder is untrusted input: it chooses no code, no path and no markup
(``fin_hgrpo.trust``). Each case of reliability.md that a folder could abuse (N1-N7)
is reproduced here as a hostile folder, and ``weights``, ``report``, ``risk`` and
``verify`` are run on it."""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fin_hgrpo.cli import main
from fin_hgrpo.deploy.targets import target_weights
from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.trust import NAME
from tests.conftest import TINY_CLASSICAL, write_tiny_specs

# the tiny classical backtest with a custom strategy (strategies/mine.py) beside them
SPEC = TINY_CLASSICAL.replace('name = "tiny_classical"', 'name = "mine"') + (
    '[[strategies]]\nkind = "custom"\npath = "strategies/mine.py:Mine"\n')
MINE = ("from fin_hgrpo.strategies import EqualWeight\n\n\nclass Mine(EqualWeight):\n"
        "    name = 'mine'\n")
PAYLOAD = ('from pathlib import Path\nPath("{marker}").write_text("ran")\n'
           "from fin_hgrpo.strategies import EqualWeight as Helper\n")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A workspace that ran a backtest with a custom strategy (``strategies/mine.py``):
    the module's tests run in it and copy its results."""
    folder = tmp_path_factory.mktemp("trusting")
    write_tiny_specs(folder)
    (folder / "strategies" / "mine.py").write_text(MINE)
    (folder / "backtests" / "mine.toml").write_text(SPEC)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert main(["backtest", "backtests/mine.toml", "--workers", "1"]) == 0
        yield folder


@pytest.fixture
def copies(workspace, request):
    """``copy(name)``: a copy of the finished run at ``backtests/results/<name>`` (a
    sibling of the original), removed after the test; and a marker path a payload
    would write."""
    made = []

    def copy(name: str) -> Path:
        target = workspace / "backtests" / "results" / f"{request.node.name[:20]}_{name}"
        shutil.copytree(workspace / "backtests" / "results" / "mine", target)
        made.append(target)
        return target

    yield copy
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _custom(path: str):
    return lambda state: state["strategies"]["equal_weight"].update(spec={
        "kind": "custom", "path": path, "params": {}, "name": None, "rebalance": None,
        "min_trade": None})


# ---- code -------------------------------------------------------------------------------------
def test_weights_run_custom_code_only_from_a_spec_named_on_the_command_line(
        workspace, capsys):
    folder = workspace / "backtests" / "results" / "mine"
    with pytest.raises(FinHgrpoError, match="never chooses code to run: name the backtest "
                                            "spec that holds it"):
        target_weights(folder, "mine")
    assert main(["weights", str(folder), "--strategy", "mine"]) == 2
    assert "--spec SPEC" in capsys.readouterr().err
    targets = target_weights(folder, "mine", specs=["backtests/mine.toml"])
    assert targets.weights.sum() == pytest.approx(1.0)
    code = workspace / "strategies" / "mine.py"
    try:
        code.write_text(MINE + "# edited since the backtest\n")
        with pytest.raises(FinHgrpoError, match="the code or its params changed since"):
            target_weights(folder, "mine", specs=["backtests/mine.toml"])
    finally:
        code.write_text(MINE)


def test_code_in_a_sibling_results_folder_is_never_imported(copies, tmp_path):
    """N1: A's state names a module in results folder B. Refused, never imported, with
    or without a spec named."""
    a, b = copies("a"), copies("b")
    marker = tmp_path / "payload-ran"
    (b / "helper.py").write_text(PAYLOAD.format(marker=marker))
    _edit_json(a / "deploy" / "state.json",
               _custom(f"{b.relative_to(Path.cwd())}/helper.py:Helper"))
    with pytest.raises(FinHgrpoError, match="never chooses code"):
        target_weights(a, "equal_weight")
    with pytest.raises(FinHgrpoError, match="no strategy of backtests/mine.toml is"):
        target_weights(a, "equal_weight", specs=["backtests/mine.toml"])
    assert not marker.exists()


def test_a_downloaded_bundle_run_from_its_own_folder_runs_none_of_its_code(
        workspace, tmp_path, monkeypatch):
    """N2: ``cd bundle && fin-hgrpo weights run1``, the state naming ``lib/helper.py``."""
    bundle = tmp_path / "bundle"
    shutil.copytree(workspace / "backtests" / "results" / "mine", bundle / "run1")
    (bundle / "lib").mkdir()
    marker = tmp_path / "payload-ran"
    (bundle / "lib" / "helper.py").write_text(PAYLOAD.format(marker=marker))
    _edit_json(bundle / "run1" / "deploy" / "state.json", _custom("lib/helper.py:Helper"))
    monkeypatch.chdir(bundle)
    assert main(["weights", "run1", "--strategy", "equal_weight"]) == 2
    assert not marker.exists()


def test_verify_runs_no_spec_from_a_results_folder(copies, tmp_path, capsys):
    """N3: A's manifest re-runs a spec in results folder B that names B's code."""
    a, b = copies("a"), copies("b")
    marker = tmp_path / "payload-ran"
    (b / "evil.py").write_text(PAYLOAD.format(marker=marker))
    (b / "bt.toml").write_text(SPEC.replace("strategies/mine.py:Mine",
                                            f"{b.relative_to(Path.cwd())}/evil.py:Helper"))
    spec = f"{b.relative_to(Path.cwd())}/bt.toml"
    _edit_json(a / "manifest.json", lambda m: m.update(command=["backtest", spec]))
    assert main(["verify", str(a)]) == 2
    assert "inside the results folder" in capsys.readouterr().err
    assert main(["verify", str(a), "--spec", spec]) == 2  # named, still inside a folder
    assert not marker.exists()


def test_verify_runs_custom_code_only_from_a_named_spec_with_the_recorded_code(
        workspace, capsys):
    folder = workspace / "backtests" / "results" / "mine"
    assert main(["verify", str(folder)]) == 2
    assert "fin-hgrpo verify" in capsys.readouterr().err  # what to pass instead
    assert main(["verify", str(folder), "--spec", "backtests/mine.toml"]) == 0
    code = workspace / "strategies" / "mine.py"
    try:
        code.write_text(MINE + "# edited since the backtest\n")
        assert main(["verify", str(folder), "--spec", "backtests/mine.toml"]) == 2
        assert "not the code the run recorded" in capsys.readouterr().err
    finally:
        code.write_text(MINE)


def test_a_folder_reads_no_data_outside_the_workspace(copies, capsys):
    """Without the env spec file it names, weights would read the data its recorded
    spec names: a path outside the workspace is refused, not read."""
    folder = copies("data")

    def elsewhere(state: dict) -> None:
        state["env"] = "envs/gone.toml"
        state["env_spec"]["data"]["source"] = "csv:/etc/passwd"
    _edit_json(folder / "deploy" / "state.json", elsewhere)
    assert main(["weights", str(folder), "--strategy", "equal_weight"]) == 2
    assert "names /etc/passwd, outside the workspace" in capsys.readouterr().err


# ---- paths and markup -------------------------------------------------------------------------
def _rename_run(folder: Path, old: str, new: str) -> None:
    """Rename a strategy everywhere a folder names it: state.json, the result CSVs."""
    def state(data: dict) -> None:
        data["strategies"][new] = data["strategies"].pop(old)
        data["runs"][new] = data["runs"].pop(old)
        data["runs"][new]["strategy"] = new
    _edit_json(folder / "deploy" / "state.json", state)
    for name in ("returns.csv", "turnover.csv", "metrics.csv", "seeds.csv"):
        path = folder / name
        path.write_text(path.read_text().replace(old, new))


@pytest.mark.parametrize("name", ["/tmp/outside/ABS", "../../../../../x", ".."])
def test_a_run_name_that_is_a_path_is_refused_and_nothing_is_written(copies, tmp_path,
                                                                       name, capsys):
    """N4, N5: a run renamed to an absolute path or ``..`` in state.json and the CSVs."""
    folder = copies("named")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.html").write_text("mine")
    name = name.replace("/tmp/outside", str(outside))
    _rename_run(folder, "equal_weight", name)
    before = sorted(p.name for p in outside.iterdir())
    assert main(["weights", str(folder), "--strategy", name]) == 2
    assert main(["report", str(folder), "--tearsheets"]) == 2
    assert main(["risk", f"{folder}:{name}"]) == 2
    assert "is not a run or strategy name" in capsys.readouterr().err
    assert sorted(p.name for p in outside.iterdir()) == before
    assert (outside / "precious.html").read_text() == "mine"


def test_a_targets_symlink_leading_out_is_refused(copies, tmp_path):
    """N7: ``ln -s /tmp/outside/tg R/targets``; weights wrote through it."""
    folder = copies("link")
    outside = tmp_path / "tg"
    outside.mkdir()
    (folder / "targets").symlink_to(outside)
    assert main(["weights", str(folder), "--strategy", "equal_weight"]) == 2
    assert list(outside.iterdir()) == []


def test_values_from_run_json_reach_the_page_escaped(copies):
    """N6: run.json fields were written raw into report.html; a name with markup is
    refused as a name, any other value is escaped."""
    folder = copies("markup")
    attack = "<img src=x onerror=alert(1)>"
    _edit_json(folder / "run.json", lambda info: info.update(rebalance=attack, seconds=attack))
    assert main(["report", str(folder)]) == 0
    page = (folder / "report.html").read_text()
    assert attack not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    _edit_json(folder / "run.json", lambda info: info.update(benchmark=attack))
    assert main(["report", str(folder)]) == 2


# ---- hostile folders, drawn -------------------------------------------------------------------
HOSTILE = st.one_of(
    st.sampled_from(["OUT/x", "OUT", "../../../x", "..", ".", "a/b", "x/../../y",
                     "<script>alert(1)</script>", "' onload='x", "x\"><b>"]),
    st.text(alphabet="./<>'\"&ab", min_size=1, max_size=10).filter(
        lambda s: not NAME.fullmatch(s) or set(s) == {"."}),
)


def _tree(root: Path, skip: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*")
            if p.is_file() and not p.is_relative_to(skip)}


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=HOSTILE)
def test_a_hostile_folder_makes_no_command_write_outside_it_or_import_from_it(
        workspace, tmp_path, name):
    """Names with ``/``, ``..``, absolute paths and markup planted everywhere a folder
    names something (runs, columns, run.json, the manifest's command and code paths),
    and a ``targets`` symlink leading out: ``weights``, ``report``, ``risk`` and
    ``verify`` write nothing outside the folder and import nothing from it."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    name = name.replace("OUT", str(outside))
    folder = workspace / "backtests" / "results" / "hostile"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(workspace / "backtests" / "results" / "mine", folder)
    marker = tmp_path / "payload-ran"
    (folder / "evil.py").write_text(PAYLOAD.format(marker=marker))
    try:
        _rename_run(folder, "equal_weight", name)
        _edit_json(folder / "run.json", lambda info: info.update(benchmark=name))
        _edit_json(folder / "manifest.json", lambda m: m.update(command=[
            "backtest", f"{folder}/{name}.toml"]))
        _edit_json(folder / "deploy" / "state.json",
                   lambda state: state["strategies"]["mine"].update(spec={
                       "kind": "custom", "path": f"{folder}/evil.py:Helper", "params": {},
                       "name": None, "rebalance": None, "min_trade": None}))
        (folder / "targets").symlink_to(outside)
        before = _tree(workspace, folder) | _tree(tmp_path, tmp_path / "never")
        for argv in (["weights", str(folder), "--strategy", name],
                     ["weights", str(folder), "--strategy", "mine"],
                     ["report", str(folder), "--tearsheets"],
                     ["risk", f"{folder}:{name}"], ["verify", str(folder)]):
            assert main(argv) != 0, argv
        assert _tree(workspace, folder) | _tree(tmp_path, tmp_path / "never") == before
        assert list(outside.iterdir()) == [] and not marker.exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
