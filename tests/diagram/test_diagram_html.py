"""`--format html`: one self-contained page whose names and comments cannot break it,
loaded in a real headless chromium (Debian's), its search box typed into, a screenshot
checked for content."""

from __future__ import annotations

import base64
import io
import json
import os
import select
import shutil
import signal
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nself.diagram import html
from nself.diagram.graph import from_schema
from nself.schema.introspect import introspect

NASTY_TABLE = '</script><img src=x onerror="window.pwned=1">'
NASTY_COMMENT = "<img src=x onerror=\"window.pwned=2\"> ]]> </style> {{x}} & 'quotes'"

SCHEMA_SQL = f"""
CREATE SCHEMA billing;
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email character varying(255) NOT NULL UNIQUE,
    created_at timestamp with time zone NOT NULL DEFAULT now()
);
COMMENT ON COLUMN users.email IS 'login name';
CREATE TABLE posts (
    id bigint PRIMARY KEY,
    author_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    title text CHECK (title <> '')
);
CREATE INDEX posts_title ON posts (lower(title));
CREATE TABLE billing.invoices (
    id integer PRIMARY KEY,
    user_id bigint REFERENCES users,
    total numeric(10,2) DEFAULT 0
);
CREATE TABLE "{NASTY_TABLE.replace('"', '""')}" (
    "<b>id</b>" integer PRIMARY KEY,
    post_id bigint REFERENCES posts
);
COMMENT ON TABLE "{NASTY_TABLE.replace('"', '""')}" IS $c${NASTY_COMMENT}$c$;
COMMENT ON COLUMN posts.title IS $c${NASTY_COMMENT}$c$;
CREATE TABLE events (at date NOT NULL, user_id bigint REFERENCES users) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
"""


def _graph(db):
    db.query(SCHEMA_SQL)
    with db.connect() as conn:
        return from_schema(introspect(conn)).fold_partitions()   # as schema diagram does


def _svg(graph) -> str:
    """The diagram's SVG, as `schema diagram --format html` draws it."""
    from nself.diagram import layout, svg

    return svg.render(layout.layout(graph))


class _Elements(HTMLParser):
    """Every start tag of a page, with its attributes, and the text of its scripts."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def test_names_and_comments_are_text_whatever_they_hold(db):
    """A table named `</script><img onerror>` and comments with tags stay text: the page has
    one script (the constant one), no img, no event attribute, and the names escaped."""
    graph = _graph(db)
    page = html.render(graph, _svg(graph))
    found = _Elements()
    found.feed(page)
    assert [t for t, _ in found.tags].count("script") == 1
    assert found.scripts == [html.SCRIPT]
    assert not [t for t, _ in found.tags if t == "img"]
    assert not [(t, a) for t, a in found.tags if any(k.startswith("on") for k in a)]
    assert "&lt;/script&gt;&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;" in page
    assert "http://" not in page.replace("http://www.w3.org/", "")
    assert "https://" not in page


def _article(page: str, table: str) -> str:
    start = page.index('<article id="')
    start = page.index(f' data-table="{html.escape(table)}" data-search', start)
    return page[start:page.index("</article>", start)]


def test_page_describes_every_table(db):
    """Per table: columns with types, defaults and keys, constraints, indexes, comments,
    and links both ways along each foreign key."""
    graph = _graph(db)
    page = html.render(graph, _svg(graph))
    for node_id, node in graph.nodes.items():
        assert f'data-table="{html.escape(node_id)}"' in page
        for c in node.columns:
            assert f'<tr data-column="{html.escape(c.name)}">' in page
    posts = _article(page, "public.posts")
    assert "on delete cascade" in posts
    assert "posts_title" in posts and "lower(title)" in posts
    assert "CHECK" in posts
    assert "Referenced by" in posts and "public.users" in posts
    users = _article(page, "public.users")
    assert "login name" in users and "now()" in users and "billing.invoices" in users
    assert "character varying(255)" in users
    assert "Partitions: public.events_2026." in _article(page, "public.events")


def test_scripts_and_event_handlers_in_the_svg_are_removed():
    """An SVG that carries a script, an onload or a javascript: link is inlined without
    them."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
           ' onload="alert(1)"><script>alert(2)</script><a xlink:href="javascript:alert(3)">'
           '<text onclick="alert(4)">t</text></a><foreignObject><div>x</div></foreignObject>'
           '</svg>')
    out = html.safe_svg(svg)
    assert "alert" not in out and "foreignObject" not in out
    assert "<text>t</text>" in out


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser(tmp_path):
    """A headless chromium driven over the DevTools protocol on a pipe (no extra package).
    Missing chromium fails under CI (.ci/run installs it) and skips elsewhere."""
    binary = chromium()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run installs it with apt-get "
                        "(DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)")
        pytest.skip("needs Debian's chromium (apt-get install chromium); CI installs it")
    with Browser(binary, tmp_path / "profile") as b:
        yield b


class Browser:
    """Chrome DevTools Protocol over --remote-debugging-pipe: commands on fd 3, answers and
    events on fd 4, each a JSON text ended by a NUL byte."""

    def __init__(self, binary: str, profile: Path):
        self.binary, self.profile = binary, profile
        self.next_id = 0
        self.events: list[dict] = []
        self.buffer = b""

    def __enter__(self) -> Browser:
        to_browser, self.commands = os.pipe()
        self.answers, from_browser = os.pipe()

        def pipes():
            # through spare copies: a pipe may already be fd 3 or 4, then closed on exec
            spare = os.dup(to_browser), os.dup(from_browser)
            os.dup2(spare[0], 3)
            os.dup2(spare[1], 4)

        self.proc = subprocess.Popen(
            [self.binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--remote-debugging-pipe", "--no-first-run",
             f"--user-data-dir={self.profile}", "--window-size=1280,900", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=pipes, start_new_session=True)
        os.close(to_browser)
        os.close(from_browser)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1280,
                  height=900, deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGKILL)    # the browser and its renderers
        self.proc.wait()
        os.close(self.commands)
        os.close(self.answers)

    def _read(self, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer")
            ready, _, _ = select.select([self.answers], [], [], 1)
            if not ready:
                continue
            chunk = os.read(self.answers, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for k, e in enumerate(self.events):
                if e.get("method") == event:
                    return self.events.pop(k)
            self.events.append(self._read(max(0.1, deadline - time.monotonic())))

    def open(self, url: str) -> None:
        """Load URL afresh (a URL differing only in its #fragment would not reload)."""
        for address in ("about:blank", url):
            self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
            self.call("Page.navigate", session=True, url=address)
            self.wait_for("Page.loadEventFired")

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def type(self, text: str) -> None:
        """Key presses, one per character, into the focused element."""
        for ch in text:
            self.call("Input.dispatchKeyEvent", session=True, type="keyDown", key=ch, text=ch)
            self.call("Input.dispatchKeyEvent", session=True, type="keyUp", key=ch)

    def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", session=True, type=kind, key="Enter",
                      code="Enter", windowsVirtualKeyCode=13,
                      **({"text": "\r"} if kind == "keyDown" else {}))

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", session=True,
                                          format="png")["data"])

    def problems(self) -> list[str]:
        """Script exceptions and console errors so far (a CSP refusal is one)."""
        out = [str(e["params"]) for e in self.events if e.get("method") ==
               "Runtime.exceptionThrown"]
        out += [e["params"]["entry"]["text"] for e in self.events
                if e.get("method") == "Log.entryAdded"
                and e["params"]["entry"]["level"] == "error"]
        return out


VISIBLE = ("Array.from(document.querySelectorAll('article[data-table]'))"
           ".filter(a => a.offsetParent !== null).map(a => a.dataset.table)")
# an element's (the first lit table's) centre from the view's centre (x, y), its
# width and the view's
PLACE = ("(() => { const v = document.getElementById('nself-viewport')"
         ".getBoundingClientRect(); const r = document.querySelector('#nself-canvas SELECTOR')"
         ".getBoundingClientRect(); return [r.left + r.width / 2 - v.left - v.width / 2,"
         " r.top + r.height / 2 - v.top - v.height / 2, r.width, v.width]; })()")
MATCH_PLACE = PLACE.replace("SELECTOR", ".nself-match")
LIT = "Array.from(document.querySelectorAll('.nself-match')).map(e => e.dataset.table)"


def _pixel_spread(png: bytes) -> float:
    from PIL import Image, ImageStat

    image = Image.open(io.BytesIO(png)).convert("L")
    return ImageStat.Stat(image).stddev[0]


def test_page_in_a_real_browser_searches_and_draws(db, browser, tmp_path):
    """In chromium: the page runs its script without error, typing into the search box
    keeps only the matching tables, lights them up in the diagram and puts the search in
    the address; a page opened with #search= starts filtered; nothing from the names runs;
    the screenshot is not blank."""
    graph = _graph(db)
    path = tmp_path / "schema.html"
    path.write_text(html.render(graph, _svg(graph)))
    url = path.as_uri()

    browser.open(url)
    assert browser.js("document.getElementById('nself-count').textContent") == \
        f"{len(graph.nodes)} tables"
    assert sorted(browser.js(VISIBLE)) == sorted(graph.nodes)
    assert browser.js("document.querySelectorAll('img').length") == 0
    assert browser.js("typeof window.pwned") == "undefined"
    nasty = next(i for i, n in graph.nodes.items() if n.name == NASTY_TABLE)
    heading = (f"Array.from(document.querySelectorAll('article'))"
               f".find(a => a.dataset.table === {json.dumps(nasty)}).querySelector('h2')")
    assert browser.js(heading + ".firstChild.textContent") == nasty

    browser.js("document.getElementById('nself-search').focus()")
    browser.type("invoic")
    assert browser.js(VISIBLE) == ["billing.invoices"]
    assert browser.js(LIT) == ["billing.invoices"]
    assert browser.js("document.getElementById('nself-count').textContent") == \
        f"1 of {len(graph.nodes)} tables"
    assert browser.js("location.hash") == "#search=invoic"
    # zoomed far out, Enter brings the first match to the middle at its natural size
    browser.js("for (let k = 0; k < 8; k++) document.querySelector('[data-zoom=out]').click()")
    assert browser.js(MATCH_PLACE)[2] < 60
    browser.js("document.getElementById('nself-search').focus()")
    browser.press_enter()
    where = browser.js(MATCH_PLACE)
    assert abs(where[0]) < 2 and abs(where[1]) < 2 and 100 < where[2] < where[3]

    # a column name finds its table, and the row is marked
    browser.js("document.getElementById('nself-search').value = ''")
    browser.type("author")
    assert browser.js(VISIBLE) == ["public.posts"]
    assert browser.js("Array.from(document.querySelectorAll('tr.nself-hit'))"
                      ".map(r => r.dataset.column)") == ["author_id"]
    # a table's "in diagram" button brings it to the middle of the diagram's view
    browser.js("document.querySelector('article[data-table=\"public.posts\"] "
               "button.nself-show').click()")
    where = browser.js(PLACE.replace("SELECTOR", "[data-table=\"public.posts\"] > rect.box"))
    assert abs(where[0]) < 2 and abs(where[1]) < 2 and 100 < where[2] < where[3]
    shot = browser.screenshot()
    assert _pixel_spread(shot) > 10

    browser.open(url + "#search=" + "user")
    assert browser.js("document.getElementById('nself-search').value") == "user"
    assert sorted(browser.js(VISIBLE)) == ["billing.invoices", "public.events", "public.users"]
    # the first match is drawn in the middle of the diagram's view, at its natural size
    where = browser.js(MATCH_PLACE)
    assert abs(where[0]) < 2 and abs(where[1]) < 2 and 100 < where[2] < where[3]

    for _ in range(3):            # let the page finish anything late
        browser.call("Runtime.evaluate", session=True, expression="1")
    assert browser.js("typeof window.pwned") == "undefined"
    assert browser.problems() == []



def test_the_command_writes_the_page(project):
    """`nself db schema diagram --output schema.html` on the live database writes the page
    with every table, the hostile one escaped."""
    graph = _graph(project.db)
    result = project.run("db", "schema", "diagram", "--output", "schema.html")
    assert result.code == 0 and "schema.html" in result.out, result
    page = (project.root / "schema.html").read_text()
    found = _Elements()
    found.feed(page)
    assert found.scripts == [html.SCRIPT]
    assert {a["data-table"] for t, a in found.tags if t == "article"} == set(graph.nodes)
