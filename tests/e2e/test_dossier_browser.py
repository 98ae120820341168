"""The release dossier of a real run, opened in headless Chromium: the page renders its SVG charts, shows the
idea (user input, here a `<script>` idea) as text, runs no script, and makes no request beyond its own
file — proven twice, by the DevTools `Network.requestWillBeSent` events and by a loopback proxy that
every host is routed to; a positive control shows both detectors do see a page that fetches.

Screenshots are kept under $IDEAMINE_TEST_ARTIFACTS (default `test-artifacts/`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium_cdp import Browser, CountingProxy, chromium_binary

from ideamine_core.dossier import DossierInputs, compile_dossier, write_dossier
from ideamine_core.dossier.model import PhaseCost
from ideamine_core.storage.run_store import RunStore

pytestmark = pytest.mark.e2e

IDEA = '<script>alert("xss")</script><img src=x onerror=alert(1)> Build a collaborative todo app with sync'
DOM_FACTS = """(() => {
  const charts = {};
  for (const svg of document.querySelectorAll('svg.chart')) {
    const box = svg.getBoundingClientRect();
    charts[svg.id] = {width: box.width, height: box.height, bars: svg.querySelectorAll('rect').length};
  }
  return {
    charts,
    scripts: document.scripts.length,
    images: document.images.length,
    idea: document.getElementById('idea').textContent,
    costNote: document.getElementById('chart-cost-missing')?.textContent ?? null,
    completeness: document.getElementById('completeness').textContent.replace(/\\s+/g, ' ').trim(),
  };
})()"""


def ideamine(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "DAGSTER_", "DATABASE_URL"))}
    env |= {"IDEAMINE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ideamine_dagster.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """(home, run id, dossier.html) of a full offline run and its `ideamine dossier --format html`."""
    chromium_binary()  # no browser: skip (or fail under CI) before spending time on a run
    home = tmp_path_factory.mktemp("browser") / "home"
    run = ideamine(home, "run", IDEA, "-u", "remote teams", "-c", "mobile-first", "--executor", "in_process")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (record,) = RunStore(home / "runs").list_runs()
    made = ideamine(home, "dossier", record.run_id, "--format", "html")
    assert made.returncode == 0, run.stdout[-2000:] + made.stderr
    html = Path(made.stdout.strip().splitlines()[-1])
    assert html == home / "runs" / record.run_id / "dossier.html" and html.is_file()
    return home, record.run_id, html


@pytest.fixture
def proxy() -> Iterator[CountingProxy]:
    """The loopback counter every request of the pages under test is routed to."""
    counter = CountingProxy()
    yield counter
    counter.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Headless Chromium; its own background traffic goes to a loopback sink: nothing leaves the machine."""
    sink = CountingProxy()
    route = [f"--proxy-server=http://127.0.0.1:{sink.port}", "--proxy-bypass-list=<-loopback>"]
    chromium = Browser(chromium_binary(), tmp_path / "profile", route)
    yield chromium
    chromium.close()
    sink.close()


def artifacts_dir() -> Path:
    """Where screenshots are kept for people to look at."""
    return Path(os.environ.get("IDEAMINE_TEST_ARTIFACTS") or "test-artifacts")


def requests_of(browser: Browser, session: str) -> list[str]:
    """URLs the page asked for, in order."""
    return [event["request"]["url"] for event in browser.of("Network.requestWillBeSent", session)]


def assert_rendered(chart: dict, bars: int) -> None:
    assert chart["width"] > 300 and chart["height"] > 50 and chart["bars"] >= bars, chart


def test_real_run_dossier_renders_its_charts_and_fetches_nothing(
    real_run: tuple[Path, str, Path], browser: Browser, proxy: CountingProxy
) -> None:
    home, run_id, html = real_run
    phases = len(RunStore(home / "runs").load_run(run_id).phases)
    session = browser.open(html.as_uri(), browser.context(proxy))
    facts = browser.evaluate(DOM_FACTS, session)
    assert_rendered(facts["charts"]["chart-gates"], bars=1)
    assert_rendered(facts["charts"]["chart-timeline"], bars=1)
    assert facts["charts"]["chart-timeline"]["bars"] <= phases
    if "chart-cost" in facts["charts"]:
        assert_rendered(facts["charts"]["chart-cost"], bars=1)
    else:
        assert "cost per phase not supplied" in facts["costNote"]
    assert facts["idea"] == IDEA  # the user's markup is shown as text
    assert facts["scripts"] == 0 and facts["images"] == 0
    assert facts["completeness"].startswith("Completeness:") and "%" in facts["completeness"]
    assert browser.of("Page.javascriptDialogOpening", session) == []
    assert requests_of(browser, session) == [html.as_uri()]
    assert proxy.connections == 0, proxy.requests
    shot = browser.screenshot(session, artifacts_dir() / f"dossier-{run_id}.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_cost_chart_renders_when_costs_are_supplied(
    real_run: tuple[Path, str, Path], browser: Browser, proxy: CountingProxy, tmp_path: Path
) -> None:
    home, run_id, _ = real_run
    store = RunStore(home / "runs")
    ran = [p for p in store.load_run(run_id).phases if store.load_phase(run_id, p)]
    costs = {p: PhaseCost(cost_usd=0.001 * (i + 1), tokens_in=100 * (i + 1)) for i, p in enumerate(ran)}
    dossier = compile_dossier(store, run_id, DossierInputs(phase_costs=costs))
    html = write_dossier(dossier, tmp_path / "with-costs.html", "html")
    session = browser.open(html.as_uri(), browser.context(proxy))
    facts = browser.evaluate(DOM_FACTS, session)
    assert set(facts["charts"]) == {"chart-cost", "chart-gates", "chart-timeline"}
    assert_rendered(facts["charts"]["chart-cost"], bars=len(ran))
    assert requests_of(browser, session) == [html.as_uri()] and proxy.connections == 0
    browser.screenshot(session, artifacts_dir() / f"dossier-{run_id}-with-costs.png")


def test_the_detectors_see_a_page_that_fetches(
    browser: Browser, proxy: CountingProxy, tmp_path: Path
) -> None:
    page = tmp_path / "fetches.html"
    page.write_text(
        '<!doctype html><title>control</title><img src="http://dossier-canary.invalid/pixel.png">'
    )
    session = browser.open(page.as_uri(), browser.context(proxy))
    assert "http://dossier-canary.invalid/pixel.png" in requests_of(browser, session)
    assert proxy.connections >= 1 and any("dossier-canary.invalid" in r for r in proxy.requests)
