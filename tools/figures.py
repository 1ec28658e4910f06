"""Write the figures the README and the docs quote from the files of the runs that made
them, so that no quoted number is typed by hand or goes stale.

Each figure stands between two markers in a Markdown file, inline or as a block::

    <!-- figure main_job.table -->
    ...written by this script...
    <!-- /figure -->

``python tools/figures.py`` rewrites every block from the run files
(``docs/results/*``: a run's metrics, seeds, folds and ``run.json``, with ``source.json``
naming the command, machine and date of a run that has no record;
``docs/results/timings/*.json``: the timed runs of ``make demo`` and ``.ci/run`` written by
``tools/record_run.py``). ``--check`` rewrites nothing and exits 1 naming each stale
figure; ``tests/test_figures.py`` runs it in the fast tier.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/*.md")
RESULTS = Path("docs/results")
TIMINGS = RESULTS / "timings"
MARKER = re.compile(r"<!-- figure (?P<name>[\w.]+) -->(?P<body>.*?)<!-- /figure -->",
                    re.DOTALL)
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)  # code: markers shown, not kept
AGENTS = {"hybrid_grpo": "Hybrid GRPO", "grpo": "GRPO", "ppo": "PPO"}


@dataclass(frozen=True)
class Stale:
    """A figure whose text differs from what its run's files give."""

    document: str
    name: str
    written: str
    computed: str

    def __str__(self) -> str:
        return (f"{self.document}: figure {self.name} is stale\n  written:  "
                f"{_first_difference(self.written, self.computed)}")


def _first_difference(written: str, computed: str) -> str:
    for old, new in zip(written.splitlines(), computed.splitlines(), strict=False):
        if old != new:
            return f"{old.strip()}\n  computed: {new.strip()}"
    return f"{written.strip()[-120:]!r}\n  computed: {computed.strip()[-120:]!r}"


# --- the runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A backtest's files kept under ``docs/results/<name>/``."""

    root: Path
    name: str

    @property
    def folder(self) -> Path:
        return self.root / RESULTS / self.name

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.folder / "metrics.csv", index_col="strategy")

    @cached_property
    def folds(self) -> pd.DataFrame:
        return pd.read_csv(self.folder / "folds.csv")

    @cached_property
    def info(self) -> dict:
        """``run.json``; a run kept without it names its baseline and benchmark in
        ``source.json``."""
        path = self.folder / "run.json"
        return json.loads(path.read_text()) if path.is_file() else self.source

    @cached_property
    def source(self) -> dict:
        """Command, machine and date of a run kept before runs were timed."""
        return json.loads((self.folder / "source.json").read_text())

    @property
    def baseline(self) -> str:
        return self.info["baseline"]

    @property
    def agents(self) -> list[str]:
        """Strategies with seeds (an agent, its twin), not their ensembles."""
        return [s for s, row in self.metrics.iterrows() if row["seeds"] > 1]

    def classical(self) -> list[str]:
        """Strategies that are neither agents, ensembles, the baseline nor the benchmark."""
        others = {*self.agents, self.baseline, self.info.get("benchmark")}
        return [s for s in self.metrics.index
                if s not in others and not s.endswith("_ensemble")]


def record(root: Path, name: str) -> dict:
    """A timed run written by ``tools/record_run.py``."""
    return json.loads((root / TIMINGS / f"{name}.json").read_text())


def quoted(source: dict) -> str:
    """Where a run's figures come from: its command, machine and date."""
    machine = source["machine"]
    return (f"`{source['command']}`, {machine['cpus']} cores ({machine['cpu']}), "
            f"{machine['memory_gib']} GiB, {source['date']}")


# --- formats -----------------------------------------------------------------------


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def pct(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}%}"


def signed(x: float) -> str:
    return f"{x:+.2f}"


def sharpe_cell(row: pd.Series) -> str:
    if row["seeds"] <= 1:
        return f"{row['sharpe']:.2f}"
    return (f"{row['sharpe_seed_mean']:.2f} ± {row['sharpe_seed_std']:.2f} "
            f"({row['sharpe_seed_min']:.2f}..{row['sharpe_seed_max']:.2f})")


def interval_cell(row: pd.Series, baseline: bool = False) -> str:
    """The Sharpe difference against the baseline and its 95% interval, bold when the
    interval excludes 0."""
    if baseline:
        return "baseline"
    low, high = row["sharpe_vs_baseline_low"], row["sharpe_vs_baseline_high"]
    text = f"{signed(row['sharpe_vs_baseline'])} [{signed(low)}, {signed(high)}]"
    return f"**{text}**" if low > 0 or high < 0 else text


def label(run: Run, strategy: str) -> str:
    if strategy == run.baseline:
        return f"{strategy} (1/N)"
    if strategy == run.info.get("benchmark"):
        return f"{strategy} (SPY)"
    return strategy


def metrics_table(run: Run, harm: bool) -> str:
    """Every strategy of a run, best Sharpe first; ``harm`` adds the worst three years
    against 1/N and the share of test folds beaten."""
    header = ["strategy", "seeds", "CAGR", "vol", "Sharpe (seeds: mean ± std, min..max)",
              "max DD", "turnover / yr", "active share", "Sharpe − 1/N [95% CI]"]
    header += ["worst 3 years", "folds beaten"] if harm else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for strategy, row in run.metrics.sort_values("sharpe", ascending=False).iterrows():
        cells = [label(run, strategy), f"{row['seeds']:.0f}", pct(row["cagr"]),
                 pct(row["volatility"]), sharpe_cell(row), pct(row["max_drawdown"]),
                 f"{row['turnover']:.1f}", pct(row["active_share"], 0),
                 interval_cell(row, baseline=strategy == run.baseline)]
        if harm:
            baseline = strategy == run.baseline
            cells += ["" if baseline else signed(row["worst_3y_vs_baseline"]),
                      "" if baseline else pct(row["folds_beaten"], 0)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def block(text: str) -> str:
    """A figure of its own paragraphs (a table), apart from the markers."""
    return f"\n\n{text}\n\n"


# --- the figures -------------------------------------------------------------------

FIGURES: dict[str, Callable[[Path], str]] = {}


def figure(name: str) -> Callable:
    def register(function: Callable[[Path], str]) -> Callable[[Path], str]:
        FIGURES[name] = function
        return function
    return register


@figure("demo.timing")
def demo_timing(root: Path) -> str:
    demo, run = record(root, "demo"), Run(root, "main_job")
    return (f"**{duration(demo['seconds'])}** with the install (the walk-forward "
            f"{run.info['seconds']:,.0f} s; peak memory of all its processes "
            f"{demo['peak_rss_bytes'] / 1e9:.1f} GB; {quoted(demo)})")


@figure("main_job.summary")
def main_job_summary(root: Path) -> str:
    """The README's table: 1/N, the best classical strategy, each agent raw and shrunk."""
    run = Run(root, "main_job")
    m = run.metrics
    best = max(run.classical(), key=lambda s: m.loc[s, "sharpe"])
    lines = ["| strategy | Sharpe: mean ± std over seeds (min..max) | turnover / yr | "
             "active share vs 1/N | Sharpe − 1/N [95% CI] | worst 3 years vs 1/N |",
             "|---|---|---|---|---|---|",
             f"| {run.baseline} (1/N) | {m.loc[run.baseline, 'sharpe']:.2f} | "
             f"{m.loc[run.baseline, 'turnover']:.1f} | 0% | baseline | |"]

    def row(name: str, strategy: str, bold: bool = False) -> str:
        r = m.loc[strategy]
        sharpe = f"**{sharpe_cell(r)}**" if bold else sharpe_cell(r)
        return (f"| {name} | {sharpe} | {r['turnover']:.1f} | {pct(r['active_share'], 0)} | "
                f"{interval_cell(r)} | {signed(r['worst_3y_vs_baseline'])} |")

    lines.append(row(f"best classical ({best})", best))
    for agent, name in AGENTS.items():
        if agent in m.index:
            if f"{agent}_shrunk" in m.index:
                lines.append(row(f"**{name}, shrunk**", f"{agent}_shrunk", bold=True))
            lines.append(row(f"{name}, raw", agent))
    return block(f"Run: {quoted(record(root, 'demo'))}; {run.info['folds']} test years, "
                 f"{len(run.info['seeds'])} seeds an agent; files in "
                 f"`docs/results/main_job/`.\n\n" + "\n".join(lines))


@figure("main_job.verdict")
def main_job_verdict(root: Path) -> str:
    """Which strategies differ from 1/N at 95%, and what the raw Hybrid GRPO paid."""
    run = Run(root, "main_job")
    m = run.metrics
    differ = [s for s, r in m.iterrows() if r["sharpe_vs_baseline_low"] > 0
              or r["sharpe_vs_baseline_high"] < 0]
    agents_differ = [s for s in differ
                     if s.removesuffix("_ensemble").removesuffix("_shrunk") in AGENTS]
    raw, twin, base = m.loc["hybrid_grpo"], m.loc["hybrid_grpo_shrunk"], m.loc[run.baseline]
    verdict = ("no agent differs from 1/N at 95%" if not agents_differ else
               f"{', '.join(agents_differ)} differ from 1/N at 95%")
    return (f"Over {run.info['folds']} test years **{verdict}**. Raw Hybrid GRPO departs furthest "
            f"(volatility {pct(raw['volatility'], 0)} against {pct(base['volatility'], 0)}) "
            f"and scores {-raw['sharpe_vs_baseline']:.2f} below 1/N, "
            f"{-raw['worst_3y_vs_baseline']:.2f} below over its worst three years; its "
            f"twin {-twin['sharpe_vs_baseline']:.2f} below, "
            f"{-twin['worst_3y_vs_baseline']:.2f} over its worst three years, at "
            f"{twin['turnover']:.1f} turnover a year against {raw['turnover']:.1f}.")


@figure("main_job.table")
def main_job_table(root: Path) -> str:
    run = Run(root, "main_job")
    return block(f"Run: {quoted(record(root, 'demo'))}.\n\n{metrics_table(run, harm=True)}")


def fold_sharpes(run: Run) -> pd.DataFrame:
    """Each strategy's test Sharpe by fold, an agent's the mean over its seeds."""
    return run.folds.groupby(["fold", "strategy"])["sharpe"].mean().unstack()


@figure("main_job.folds")
def main_job_folds(root: Path) -> str:
    """Mean test Sharpe by fold: 1/N, each agent over its seeds, max Sharpe and SPY."""
    run = Run(root, "main_job")
    columns = [(run.baseline, "1/N"), *((a, n) for a, n in AGENTS.items()),
               ("max_sharpe", "max Sharpe"), (run.info["benchmark"], "SPY")]
    starts = run.folds.groupby("fold")["test_start"].first()
    lines = ["| fold | test year from | " + " | ".join(n for _, n in columns) + " |",
             "|---:|---|" + "---:|" * len(columns)]
    for fold, row in fold_sharpes(run).iterrows():
        lines.append(f"| {fold} | {starts[fold]} | "
                     + " | ".join(f"{row[s]:.2f}" for s, _ in columns) + " |")
    return block("\n".join(lines))


@figure("main_job_5_seeds_group.folds")
def seven_years_folds(root: Path) -> str:
    """Mean test Sharpe by fold of the seven-year run: 1/N, each agent and its ensemble."""
    run = Run(root, "main_job_5_seeds_group")
    agents = [a for a in ("hybrid_grpo", "ppo", "grpo") if a in run.metrics.index]
    columns = [run.baseline] + [s for a in agents for s in (a, f"{a}_ensemble")]
    years = run.folds.groupby("fold")["test_start"].first().str[:4].astype(int)
    header = ["fold (test year from late Nov)", "1/N"]
    header += [h for a in agents for h in (AGENTS[a], "its ensemble")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for fold, row in fold_sharpes(run).iterrows():
        lines.append(f"| {fold} ({years[fold]}-{(years[fold] + 1) % 100:02d}) | "
                     + " | ".join(f"{row[s]:.2f}" for s in columns) + " |")
    return block("\n".join(lines))


def _other_run(name: str) -> Callable[[Path], str]:
    def table(root: Path) -> str:
        run = Run(root, name)
        return block(f"Run: {quoted(run.source)}.\n\n{metrics_table(run, harm=False)}")
    return table


for _name in ("full_history_hgrpo", "main_job_5_seeds_group"):
    figure(f"{_name}.table")(_other_run(_name))


@figure("cpcv_agents.table")
def cpcv_agents_table(root: Path) -> str:
    """Each agent's path Sharpe over its runs (seeds x paths), and 1/N's."""
    run = Run(root, "cpcv_agents")
    m = run.metrics
    lines = [f"| agent | path Sharpe: mean ± std over {m['runs'].max():.0f} runs | 5th..95th "
             "percentile | runs below 1/N on the same path | turnover / yr |",
             "|---|---|---|---|---|"]
    for agent, name in AGENTS.items():
        r = m.loc[agent]
        lines.append(f"| {name} | {r['sharpe_mean']:.2f} ± {r['sharpe_std']:.2f} | "
                     f"{r['sharpe_p05']:.2f}..{r['sharpe_p95']:.2f} | "
                     f"{r['p_below_baseline'] * r['runs']:.0f} of {r['runs']:.0f} | "
                     f"{r['turnover']:.1f} |")
    base = m.loc[run.baseline]
    lines.append(f"| 1/N | {base['sharpe_mean']:.2f} | | | {base['turnover']:.1f} |")
    return block(f"Run: {quoted(run.source)}.\n\n" + "\n".join(lines))


BOOK_ROWS = {  # the 130/30 book's rows, in the order shown
    "equal_weight": "equal_weight (1/N)", "hybrid_grpo": "Hybrid GRPO",
    "hybrid_grpo_ensemble": "Hybrid GRPO, ensemble", "ppo": "PPO",
    "ppo_ensemble": "PPO, ensemble", "grpo": "GRPO",
    "momentum": "momentum (long-only, top 5)",
    "momentum_130_30": "momentum 130/30 (top 5 long, worst 5 short)",
    "long_short_min_variance": "minimum variance with shorts, gross 1.6",
}


@figure("long_short.table")
def long_short_table(root: Path) -> str:
    """The 130/30 book: each strategy's Sharpe against 1/N and what its book did."""
    run = Run(root, "long_short")
    book = pd.read_csv(run.folder / "book.csv", index_col="strategy")
    lines = ["| strategy | Sharpe: mean ± std over seeds (min..max) | Sharpe − 1/N [95% CI] | "
             "turnover / yr | gross | short | trading / yr | borrow / yr |",
             "|---|---|---|---|---|---|---|---|"]
    for strategy, name in BOOK_ROWS.items():
        r, b = run.metrics.loc[strategy], book.loc[strategy]
        borrow = "0" if b["borrow_a_year"] == 0 else pct(b["borrow_a_year"], 2)
        lines.append(f"| {name} | {sharpe_cell(r)} | "
                     f"{interval_cell(r, baseline=strategy == run.baseline)} | "
                     f"{r['turnover']:.1f} | {b['gross']:.2f} | {b['short']:.2f} | "
                     f"{pct(b['trading_a_year'], 2)} | {borrow} |")
    return block(f"Run: {quoted(run.source)}.\n\n" + "\n".join(lines))


def _universes(name: str) -> Callable[[Path], str]:
    """A many-universes run against 1/N: the mean difference over universes with its
    interval over universes and days, the universes won and, where the run measured
    it, the universes in which a strategy is below 1/N at 95%."""
    def table(root: Path) -> str:
        run = Run(root, name)
        summary = pd.read_csv(run.folder / "summary.csv", index_col="strategy")
        losses = "significant_losses" in summary
        header = ["strategy", "mean Sharpe − 1/N [95% over universes and days]",
                  "universes won"] + (["below 1/N at 95% in its own universe"] if losses else [])
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for strategy, r in summary.iterrows():
            n = r["universes"]
            cells = [AGENTS.get(strategy, label(run, strategy)),
                     interval_cell(r.rename({"mean_difference": "sharpe_vs_baseline",
                                             "low": "sharpe_vs_baseline_low",
                                             "high": "sharpe_vs_baseline_high"})),
                     f"{r['wins'] * n:.0f} of {n:.0f}"]
            cells += [f"{r['significant_losses'] * n:.0f}"] if losses else []
            lines.append("| " + " | ".join(cells) + " |")
        return block(f"Run: {quoted(run.source)}.\n\n" + "\n".join(lines))
    return table


for _name in ("universes", "universes_hgrpo"):
    figure(f"{_name}.table")(_universes(_name))


def _tier(index: int) -> Callable[[Path], str]:
    def tests(root: Path) -> str:
        tier = record(root, "ci")["tests"][index]
        return f"{tier['passed']} tests, {tier['seconds']:.0f} s"
    return tests


figure("ci.fast")(_tier(0))
figure("ci.slow")(_tier(1))


@figure("ci.total")
def ci_total(root: Path) -> str:
    ci = record(root, "ci")
    return f"{duration(ci['seconds'])} with the install; {quoted(ci)}"


# --- rewriting ---------------------------------------------------------------------


def documents(root: Path) -> list[Path]:
    return sorted({path for pattern in DOCUMENTS for path in root.glob(pattern)})


def rewrite(text: str, root: Path, document: str) -> tuple[str, list[Stale]]:
    """``text`` with every figure written from its run's files, and the stale ones."""
    stale = []
    code = [fence.span() for fence in FENCE.finditer(text)]

    def replace(match: re.Match) -> str:
        if any(start <= match.start() < end for start, end in code):
            return match[0]
        name = match["name"]
        if name not in FIGURES:
            raise KeyError(f"{document}: no figure named {name} (known: "
                           f"{', '.join(sorted(FIGURES))})")
        computed = FIGURES[name](root)
        line_start = match.start() == 0 or text[match.start() - 1] == "\n"
        if line_start and not computed.startswith("\n"):
            raise ValueError(f"{document}: figure {name} opens a line, so Markdown would "
                             "show it as raw HTML: put words before it")
        if computed != match["body"]:
            stale.append(Stale(document, name, match["body"], computed))
        return f"<!-- figure {name} -->{computed}<!-- /figure -->"

    return MARKER.sub(replace, text), stale


def check(root: Path = ROOT, write: bool = False) -> list[Stale]:
    """Every stale figure in the README and the docs; ``write`` rewrites them."""
    found = []
    for path in documents(root):
        text = path.read_text()
        new, stale = rewrite(text, root, str(path.relative_to(root)))
        found += stale
        if write and new != text:
            path.write_text(new)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="rewrite nothing; exit 1 naming each stale figure")
    args = parser.parse_args(argv)
    stale = check(write=not args.check)
    for item in stale:
        print(item if args.check else f"rewrote {item.document}: {item.name}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
