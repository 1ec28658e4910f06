"""The package's imports point down its layers and never close a circle, lazy imports
and type-checking imports included; importing a part of it changes no global state."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fin_hgrpo"

# lowest first: a module may import its own layer and the layers below it
LAYERS = (
    ("errors", "io", "config", "threads", "defaults", "tensorboard", "workspace", "trust"),
    ("data", "measures", "allocation", "provenance"),
    ("envs",),
    ("algos",),
    ("strategies",),
    ("walkforward",),  # running a walk-forward: spec, folds, engine, tasks, results
    ("reports",),  # what a run shows
    ("studies",),  # designs over runs: selection, CPCV, sweeps, universes
    ("backtest",),  # run_backtest and save_backtest: a run with its studies and report
    ("deploy", "risk"),  # acting after a backtest, judging its risk
    ("verify", "cli"),
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> set[str]:
    """Every fin_hgrpo module ``module`` imports, anywhere in it: a name imported from a
    package that is itself a module counts as that module."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES
                          else base)
    return {name for name in found if name in MODULES and name != module}


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for level, names in enumerate(LAYERS):
        if top in names:
            return level
    return 0 if module == "fin_hgrpo" else -1  # the package itself: its errors


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) < 0] == []


def test_no_import_points_up_a_layer():
    upward = sorted(f"{module} imports {name}" for module, names in GRAPH.items()
                    for name in names if _layer(name) > _layer(module))
    assert upward == []


def test_no_modules_import_each_other_in_a_circle():
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for name in sorted(GRAPH[module]):
            if state.get(name) == 1:
                return [*path, module, name]
            if name not in state and (cycle := visit(name, [*path, module])):
                return cycle
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state:
            assert visit(module, []) is None


def _lines(paths) -> int:
    return sum(len(path.read_text().splitlines()) for path in paths)


def test_no_folder_holds_more_than_a_fifth_of_the_package():
    """One concern per room: a folder past a fifth of the code is a hub to split."""
    total = _lines(PACKAGE.rglob("*.py"))
    shares = {folder.name: _lines(folder.rglob("*.py")) / total
              for folder in PACKAGE.iterdir() if folder.is_dir() and folder.name != "_defaults"}
    assert {name: round(share, 3) for name, share in shares.items() if share > 0.2} == {}


# a spawned worker process keeps the run's shared context in its module's globals
WORKER_GLOBALS = {"fin_hgrpo.walkforward.executors"}


def test_no_module_sets_global_state():
    """Nothing switches matplotlib's backend (a notebook's would change), and no module
    keeps state in rebound globals, such as the command being run."""
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and n.func.attr == "use"
                 and isinstance(n.func.value, ast.Name) and n.func.value.id == "matplotlib"]
        assert not calls, f"{module} switches matplotlib's backend"
        if module not in WORKER_GLOBALS:
            assert not any(isinstance(n, ast.Global) for n in ast.walk(tree)), \
                f"{module} rebinds a module global"


@pytest.mark.parametrize("module", ["fin_hgrpo.strategies", "fin_hgrpo.allocation",
                                    "fin_hgrpo.measures.performance", "fin_hgrpo.data"])
def test_a_classical_strategy_runs_without_torch(module):
    done = subprocess.run([sys.executable, "-c", f"import sys, {module}; "
                           "print('torch' in sys.modules)"], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
