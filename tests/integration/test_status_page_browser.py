"""GET /ui in a real headless browser (Debian's chromium): after traffic through simulated vendors,
with auth on, the page logs in with the master key from its URL fragment and shows the
deployments, their health, today's spend by team and the refused reload, escaped; a wrong key gets
the login form and no data. The screenshot is kept in artifacts/ui.png (git-ignored)."""

from __future__ import annotations

import asyncio
import shutil
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.api.status_traffic import ADMIN, ENV, MASTER, PRICES, SPECS, send_traffic, status_when
from tests.conftest import FleetFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
EVIL = '<img src=x onerror="document.title=1">'  # a team name, shown as text or not at all
CHROMIUM_S = 120.0  # a cold start on a loaded 2-core machine takes seconds


class Page(HTMLParser):
    """The rendered DOM: deployment and team rows (cell text by class), error list items, which
    top-level parts are hidden, and whether any <img> exists."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.deployments: dict[str, dict[str, str]] = {}
        self.teams: dict[str, dict[str, str]] = {}
        self.errors: list[str] = []
        self.hidden: dict[str, bool] = {}
        self.images = 0
        self.text: list[str] = []
        self._row: dict[str, str] | None = None
        self._cell: str | None = None
        self._in_error = False
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images += 1
        if a.get("id") in ("login", "status"):
            self.hidden[str(a["id"])] = "hidden" in a
        if tag == "tr" and "data-deployment" in a:
            self._row = self.deployments.setdefault(str(a["data-deployment"]), {})
        elif tag == "tr" and "data-team" in a:
            self._row = self.teams.setdefault(str(a["data-team"]), {})
        elif tag == "td" and self._row is not None:
            self._cell = next((c for c in (a.get("class") or "").split() if c.startswith("c-")), "")
            self._row[self._cell] = ""
        elif tag == "li" and "data-provider" not in a:
            self._in_error = True
            self.errors.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        elif tag == "td":
            self._cell = None
        elif tag == "li":
            self._in_error = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._row is not None and self._cell:
            self._row[self._cell] += data
        if self._in_error:
            self.errors[-1] += data


def chromium() -> str:
    """Debian's chromium; missing is a failure, never a skip (scripts/services.sh installs it)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed: apt-get install -y chromium (see scripts/services.sh)")


async def headless(url: str, profile: Path, *args: str) -> str:
    """Load `url` in a fresh profile, let its script run ~5 s of virtual time (which stands
    still while a fetch is pending), then act (--dump-dom: the DOM on stdout)."""
    proc = await asyncio.create_subprocess_exec(
        chromium(),
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        *args,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), CHROMIUM_S)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


@pytest.mark.timeout(300)
async def test_the_status_page_shows_live_deployments_health_and_spend(
    fleet: FleetFactory, tmp_path: Path
) -> None:
    async with (
        fleet(SPECS, PRICES, master_key=MASTER, env=ENV) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        sent = await send_traffic(http, evil_team=EVIL)
        await status_when(http, sum(sent.requests.values()))
        f.providers_file.write_text(f.providers_file.read_text() + "  oops: [\n")
        assert (await http.post("/admin/reload", headers=ADMIN)).status_code == 422
        page = Page(await headless(f"{f.url}/ui#key={MASTER}", tmp_path / "p1", "--dump-dom"))
        shot = tmp_path / "ui.png"
        await headless(
            f"{f.url}/ui#key={MASTER}",
            tmp_path / "p2",
            f"--screenshot={shot}",
            "--window-size=1280,1000",
        )
        refused = Page(await headless(f"{f.url}/ui#key=wrong", tmp_path / "p3", "--dump-dom"))

    assert page.hidden == {"login": True, "status": False}
    assert set(page.deployments) == {"fast/m", "slow/m", "broken/m", "locked/m"}
    for dep, cells in page.deployments.items():
        assert cells["c-requests-today"] == str(sent.deployments[dep])
        if sent.deployments[dep]:
            assert cells["c-health"] == "healthy" and cells["c-circuit"] == "closed"
    assert page.deployments["locked/m"]["c-health"] == "key rejected"
    # Its circuit opened on five straight failures; the cool-down (~2 s) may be over by now.
    assert page.deployments["broken/m"]["c-health"] in ("circuit open", "failing")

    assert set(page.teams) == {"search", "ads", "ops", EVIL}
    for team, cells in page.teams.items():
        assert cells["c-team"] == team  # the evil name as text
        assert cells["c-requests"] == str(sent.requests[team])
        assert cells["c-cost"] == f"${sent.cost[team]:.6f}"
    assert page.teams["ads"]["c-budget"] == "$0.500000"
    assert page.teams["ads"]["c-left"] == f"${0.5 - float(sent.cost['ads']):.6f}"
    assert page.images == 0  # nothing from the data was parsed as HTML

    assert page.errors and all(e.startswith(f"{f.providers_file}:") for e in page.errors)
    assert "was refused; the configuration above keeps serving" in "".join(page.text)

    assert refused.hidden == {"login": False, "status": True}
    assert not refused.deployments and not refused.teams
    assert "That key was refused" in "".join(refused.text)

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "ui.png")
