"""The access tokens page as a browser lays it out (Debian's chromium against a daphne replica): at 1,400 px the
"Scope" legend stands clear of its fieldset's top rule; at 390 px in Chinese the token table's headers keep whole
words on a line (never one character per line) and the table scrolls inside its box, not the page."""

from __future__ import annotations

import os

import pytest

from tests.fixtures.browser import ARGS, CHROMIUM, browser_user, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = os.environ.get("KUBENODE_SCREENSHOTS")  # a directory: the screenshots are kept there to look at


@pytest.fixture
def site(daphne_replicas, collected_static_dir):
    from api.tokens import create_token
    from nodes.roles import ensure_groups

    ensure_groups()
    user = browser_user("tina", "operator")
    create_token(user, "ci-deploy-production-pipeline", "actions")
    create_token(user, "laptop", "read")
    return daphne_replicas("web", KUBENODE_DATA_DIR=collected_static_dir).http_url


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def tokens_page(browser, url, width, locale):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(30_000)
    login(page, url, "tina", "secret-pw") if locale == "en-US" else _login_zh(page, url)
    page.goto(f"{url}/tokens/")
    return page


def _login_zh(page, url):
    page.goto(f"{url}/login/")
    page.get_by_label("用户名").fill("tina")
    page.get_by_label("密码").fill("secret-pw")
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_the_scope_legend_stands_clear_of_its_fieldset_rule(site, browser):
    page = tokens_page(browser, site, 1400, "en-US")
    shot(page, "tokens-1400-en")
    box = page.evaluate("""() => {
        const fs = [...document.querySelectorAll('fieldset fieldset')].find((f) => f.querySelector('legend'));
        const legend = fs.querySelector('legend').getBoundingClientRect();
        const rect = fs.getBoundingClientRect(), style = getComputedStyle(fs);
        const radio = fs.querySelector('input[type=radio]').getBoundingClientRect();
        return {legendTop: legend.top, legendBottom: legend.bottom, legendLeft: legend.left,
                fsTop: rect.top, fsLeft: rect.left, border: parseFloat(style.borderTopWidth),
                borderStyle: style.borderTopStyle, radioTop: radio.top};
    }""")
    # either no rule at all, or the legend wholly below it (never drawn across the line)
    if box["border"] > 0 and box["borderStyle"] != "none":
        assert box["legendTop"] >= box["fsTop"] + box["border"], box
    assert box["legendBottom"] <= box["radioTop"], box  # the choices come under their legend
    assert box["legendLeft"] >= box["fsLeft"], box


def test_the_token_table_headers_keep_words_whole_at_390_px_in_chinese(site, browser):
    page = tokens_page(browser, site, 390, "zh-CN")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    shot(page, "tokens-390-zh")
    cells = page.evaluate("""() => [...document.querySelectorAll('#token_list thead th')].map((th) => {
        const r = th.getBoundingClientRect();
        const line = parseFloat(getComputedStyle(th).lineHeight) || 1.4 * parseFloat(getComputedStyle(th).fontSize);
        return {text: th.textContent.trim(), width: r.width, height: r.height, line: line,
                visible: th.querySelector('.visually-hidden') === null};
    })""")
    shown = [c for c in cells if c["visible"] and c["text"]]
    assert len(shown) == 7, cells
    for cell in shown:
        # at most two lines, and wide enough for two characters of the header side by side
        assert cell["height"] <= 2.6 * cell["line"] + 20, cell
        assert cell["width"] >= 2 * 12, cell
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow} px"
