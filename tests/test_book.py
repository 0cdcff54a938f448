"""The built book is readable offline: no page loads anything from another host, and the method
page's equations render in a headless browser with the network closed. These check a build
(`make book`), so they are skipped before one; .ci/run runs them after building the book."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[1] / "_build" / "html"
pytestmark = pytest.mark.skipif(not (BUILD / "index.html").is_file(), reason="no built book (make book)")
#: a script, stylesheet, font or image the page itself loads (links a reader may follow are fine)
REMOTE = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.I)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OFFLINE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def test_no_built_page_loads_anything_from_another_host():
    pages = sorted(BUILD.rglob("*.html"))
    assert len(pages) > 5
    remote = {str(p.relative_to(BUILD)): REMOTE.findall(p.read_text(errors="ignore"))[:2] for p in pages}
    assert {page: found for page, found in remote.items() if found} == {}
    assert (BUILD / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is served from the book"


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")
def test_the_method_page_renders_its_equations_offline(tmp_path):
    """Chromium, with every connection to another host refused, loads the method page from disk:
    MathJax typesets its equations (mjx-container elements, no TeX left raw); a screenshot is
    kept in _build/screenshots/method.png for a human look."""
    page = (BUILD / "book" / "method.html").as_uri()
    browser = [CHROMIUM, *OFFLINE_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000",
               "--window-size=1280,1700"]
    dom = subprocess.run([*browser, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    typeset = dom.count("<mjx-container")
    assert typeset >= 5, f"{typeset} typeset formulas on the method page"
    assert "<mjx-merror" not in dom, "MathJax reported a TeX error"
    assert "\\mathcal{N}" not in re.sub(r"<script.*?</script>|<mjx-assistive-mml.*?</mjx-assistive-mml>", "", dom, flags=re.S), \
        "raw TeX left on the page"
    screenshot = BUILD.parent / "screenshots" / "method.png"
    screenshot.parent.mkdir(exist_ok=True)
    subprocess.run([*browser, f"--screenshot={screenshot}", page], capture_output=True, timeout=120)
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000


#: the book's chapters generated from notebooks (data/book/<page>.html), each opening with its findings
CHAPTERS = sorted((BUILD / "data" / "book").glob("*.html")) if (BUILD / "data" / "book").is_dir() else []
#: measures, once the page has loaded, the width of the article's content box and of every table's
#: content (px; a table that scrolls inside its box reports what it hides)
MEASURE = """<script>
window.addEventListener("load", () => {
  const article = document.querySelector("article") || document.querySelector("main");
  const tables = [...article.querySelectorAll("table")].map((table, i) => ({
    index: i, caption: (table.caption ? table.caption.textContent : "").slice(0, 60),
    width: Math.max(table.scrollWidth, table.getBoundingClientRect().width)}));
  const out = document.createElement("pre");
  out.id = "measured-widths";
  const style = getComputedStyle(article);
  const content = article.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  out.textContent = JSON.stringify({article: content, tables: tables});
  document.body.appendChild(out);
});
</script>"""


def test_every_chapter_opens_with_what_it_finds():
    """Each chapter built from a notebook shows its "What this chapter finds" box, before the
    first table or figure its code draws (a table in the chapter's prose may come first)."""
    assert len(CHAPTERS) >= 10, [p.name for p in CHAPTERS]
    for page in CHAPTERS:
        html = page.read_text(errors="ignore")
        assert "What this chapter finds" in html, f"{page.name} has no findings box"
        box = html.index("What this chapter finds")
        outputs = html.find('class="cell_output')
        first = min([i for i in (html.find("<table", outputs), html.find("<img", outputs)) if i >= 0],
                    default=len(html))
        assert outputs >= 0 and box < first, f"{page.name}: a table or figure comes before the findings"


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")
def test_no_table_of_the_main_chapter_is_wider_than_the_page(tmp_path):
    """Chromium at 1400 px, as a reader's laptop: every table of the main chapter (its content,
    not only its scrolling box) fits the article's width, and the findings box is on the page."""
    page = BUILD / "data" / "book" / "paper_accuracy.html"
    probe = page.with_name("_measure_paper_accuracy.html")
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    try:
        browser = [CHROMIUM, *OFFLINE_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000",
                   "--window-size=1400,2400"]
        dom = subprocess.run([*browser, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
    finally:
        probe.unlink()
    import html
    import json

    found = re.search(r'<pre id="measured-widths"[^>]*>(.*?)</pre>', dom, re.S)
    assert found, "the measuring script ran"
    measured = json.loads(html.unescape(found.group(1)))
    assert measured["tables"], "the main chapter has tables"
    wide = [t for t in measured["tables"] if t["width"] > measured["article"] + 2]
    assert wide == [], f"tables wider than the {measured['article']} px article: {wide}"
    assert "What this chapter finds" in dom
