"""The Monitoring page at 1M and 10M predictions of one version, in a real browser (issue 17's page targets).

    .venv/bin/python bench/bench_page_scale.py                       # 1,000,000 then 10,000,000
    .venv/bin/python bench/bench_page_scale.py --rows 20000 --runs 1  # a quick look

For each size in turn, on a SQLite database of data/scale_gen.py's story with its monitoring refresh done
(bench/page_scale_db.py builds it once under --out, never in data/), this starts the real app the way
tests/e2e/harness.py `running_app` does (`streamlit run server.py` on a free port; no worker: nothing is left
to refresh), drives Debian's Chromium with Playwright, signs in and measures in the browser:

- first render: a click on the Monitoring link until the page has settled (the script run the click asked
  for has ended and is drawn: tests/e2e/harness.py `settled`), in a server that has only drawn the sign-in;
- window change: the current window switched to "Last 7 days", "Last 14 days" and "Everything after the
  reference" (each a window never seen: the slowest is reported);
- the Performance tab, then the Estimated performance tab, opened;
- the serving process's peak RSS: VmHWM of the streamlit process and every process of its group, from /proc.

Each step also reports the server's CPU seconds (utime + stime of its process group, from /proc): on this
shared 2-core machine the wall clock mostly measures the wait for a core. A step is timed `--runs` times, each
in a new server and browser, and the median is kept. The last lines:
`page-scale: rows=N first_render_s=X window_change_s=X performance_tab_s=X estimated_tab_s=X peak_rss_mib=X`
per size (wall seconds), the same in CPU seconds, then the last size's ratios to the first (flat: <= 1.25).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import page_scale_db  # noqa: E402
from tests.e2e import harness  # noqa: E402

OUT = ROOT / "bench" / "out" / "page-scale"
STEPS = ("first_render_s", "window_change_s", "performance_tab_s", "estimated_tab_s")
WINDOWS = ("Last 7 days", "Last 14 days", "Everything after the reference")
TARGETS = {"first_render_s": 2.0, "window_change_s": 1.0, "performance_tab_s": 2.0, "estimated_tab_s": 2.0}
TIMEOUT_MS = 180_000
TICK = os.sysconf("SC_CLK_TCK")


# --- the server's processes, from /proc ------------------------------------------------------------


def group_of(port: int) -> int:
    """The process group of the streamlit server listening on `port` (running_app starts it as a session
    leader, so its pid is the group's id)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
            return int(proc.name)
    raise RuntimeError(f"no streamlit process serves port {port}")


def _members(group: int) -> list[Path]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) == group:
                    out.append(proc)
            except (OSError, IndexError, ValueError):
                continue
    return out


def group_cpu(group: int) -> float:
    """CPU seconds (user + system, reaped children included) of the group's processes so far."""
    total = 0
    for proc in _members(group):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])
        except OSError:
            continue
    return total / TICK


def group_peak_rss_mib(group: int) -> float:
    """The sum of VmHWM (each process's peak resident set) over the group's processes, in MiB."""
    total = 0
    for proc in _members(group):
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# --- the browser ---------------------------------------------------------------------------------


def wait_for_run(sync_api, page, before: int, where: str) -> None:
    """Until the server has started a run after event number `before` (the action's), and that run has
    ended and is drawn: harness.settled's rule, without its fixed 200 ms head start (a new run's start is
    what this waits for, so an earlier run's end cannot be mistaken for it)."""
    runs = harness._RUNS[page]
    deadline = time.monotonic() + runs.timeout_ms / 1000
    while not (runs.started > before and runs.over()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{where}: no run ended within {runs.timeout_ms / 1000:.0f} s; {runs.log}")
        page.wait_for_timeout(20)
    expect = sync_api.expect
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.locator('[data-stale="true"]')).to_have_count(0)
    expect(page.get_by_test_id("stException"), f"{where} shows an exception").to_have_count(0)


class Steps:
    """Times an action until its run has settled: wall seconds in the browser, CPU seconds of the server."""

    def __init__(self, sync_api, page, group: int) -> None:
        self.sync_api, self.page, self.group = sync_api, page, group
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def __call__(self, name: str, action) -> None:
        runs = harness._RUNS[self.page]
        before, cpu, wall = runs.events, group_cpu(self.group), time.perf_counter()
        action()
        wait_for_run(self.sync_api, self.page, before, name)
        self.wall[name], self.cpu[name] = time.perf_counter() - wall, group_cpu(self.group) - cpu
        print(f"    {name:<38} wall {self.wall[name]:6.2f} s   server CPU {self.cpu[name]:5.2f} s", flush=True)


def _choose(page, label: str, option: str):
    def act() -> None:
        page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).click()
        page.get_by_role("option", name=option, exact=True).click()

    return act


def drive(sync_api, base: str, group: int) -> dict[str, float]:
    """One session: sign in, open Monitoring, change the window, open two tabs. Wall and CPU per step."""
    email, password = page_scale_db.ANALYST
    with harness.chromium(sync_api) as browser, harness.new_page(sync_api, browser, TIMEOUT_MS, 1500, 1000) as page:
        harness.sign_in(sync_api, page, base, email, password)
        harness.settled(sync_api, page, "sign-in")
        step = Steps(sync_api, page, group)
        nav = page.get_by_test_id("stSidebarNav").get_by_role("link", name="Monitoring", exact=True)
        step("first render", nav.click)
        sync_api.expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
        for window in WINDOWS:
            step(f"window: {window}", _choose(page, "Current window", window))
        step("window: Last 28 days (seen before)", _choose(page, "Current window", "Last 28 days"))
        step("Performance tab", page.get_by_role("tab", name="Performance", exact=True).click)
        step("Estimated performance tab", page.get_by_role("tab", name="Estimated performance", exact=True).click)
    out = {}
    for clock, figures in (("", step.wall), ("cpu_", step.cpu)):
        out[f"{clock}first_render_s"] = figures["first render"]
        out[f"{clock}window_change_s"] = max(figures[f"window: {w}"] for w in WINDOWS)
        out[f"{clock}performance_tab_s"] = figures["Performance tab"]
        out[f"{clock}estimated_tab_s"] = figures["Estimated performance tab"]
    return out


def measure(rows: int, out: Path, runs: int) -> dict[str, float]:
    """The median of `runs` sessions, each in a new server, on the database of `rows` predictions."""
    sync_api = harness.skip_without_browser() if harness.CHROMIUM.exists() else None
    if sync_api is None:
        raise SystemExit(f"{harness.CHROMIUM} is not installed")
    folder = page_scale_db.build(rows, out)
    env = page_scale_db.environment(folder)
    results = []
    for run in range(runs):
        logs = folder / f"logs-{os.getpid()}-{run}"
        logs.mkdir(exist_ok=True)
        print(f"  {rows:,} predictions, run {run + 1}/{runs} (load average {_load()}):", flush=True)
        with harness.running_app(env["LOOPDECK_DATABASE_URL"], logs, env, startup_cpu_seconds=180, worker=False) as app:
            group = group_of(int(app.base.rsplit(":", 1)[1]))
            figures = drive(sync_api, app.base, group)
            figures["peak_rss_mib"] = group_peak_rss_mib(group)
        print(f"    peak RSS of the serving process group: {figures['peak_rss_mib']:,.0f} MiB", flush=True)
        results.append(figures)
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def report(all_figures: dict[int, dict[str, float]]) -> None:
    for rows, f in all_figures.items():
        met = ", ".join(f"{k} {'met' if f[k] < TARGETS[k] else 'NOT met'}" for k in STEPS)
        print(f"  {rows:,}: wall targets: {met}; peak RSS < 1 GiB: {'met' if f['peak_rss_mib'] < 1024 else 'NOT met'}")
    sizes = sorted(all_figures)
    if len(sizes) > 1:
        small, big = all_figures[sizes[0]], all_figures[sizes[-1]]
        for clock in ("", "cpu_"):
            ratios = " ".join(f"{clock}{k}=x{big[clock + k] / small[clock + k]:.2f}" for k in STEPS)
            print(f"page-scale ratio {sizes[-1]}/{sizes[0]}: {ratios}")
        print(
            f"page-scale ratio {sizes[-1]}/{sizes[0]}: peak_rss_mib=x{big['peak_rss_mib'] / small['peak_rss_mib']:.2f}"
        )
    for rows, f in all_figures.items():
        cpu = " ".join(f"cpu_{k}={f['cpu_' + k]:.2f}" for k in STEPS)
        print(f"page-scale-cpu: rows={rows} {cpu}")
    for rows, f in all_figures.items():
        wall = " ".join(f"{k}={f[k]:.2f}" for k in STEPS)
        print(f"page-scale: rows={rows} {wall} peak_rss_mib={f['peak_rss_mib']:.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=1, help="sessions per size, each in a new server (median)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the databases are built and kept")
    args = parser.parse_args(argv)
    for rows in args.rows:  # build first (minutes at 10M), so the page runs are close together in time
        if not (args.out / str(rows) / "READY").exists():
            subprocess.run([sys.executable, str(Path(__file__).with_name("page_scale_db.py")), "--rows", str(rows),
                            "--out", str(args.out)], check=True)  # fmt: skip
    print(f"load average at the start: {_load()}")
    figures = {rows: measure(rows, args.out, args.runs) for rows in args.rows}
    print(f"load average at the end: {_load()}")
    report(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
