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


def _lines(page, selector):
    """Per element: its text, its width, and how many lines its text takes (a Range over its contents)."""
    return page.evaluate("""(sel) => [...document.querySelectorAll(sel)].map((el) => {
        const range = document.createRange(); range.selectNodeContents(el);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        const box = el.getBoundingClientRect();
        return {text: el.innerText.trim(), lines: tops.size, width: box.width, right: box.right,
                hidden: box.width <= 1 || box.height <= 1};
    })""", selector)


def test_the_token_table_headers_keep_words_whole_in_chinese(site, browser):
    # wide: a row of headers, each on one line
    page = tokens_page(browser, site, 1400, "zh-CN")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    shot(page, "tokens-1400-zh")
    headers = _lines(page, "#token_list thead th:not(:last-child)")  # the last: the hidden "Revoke"
    assert [h["text"] for h in headers] == ["名称", "开头", "范围", "创建时间", "过期时间", "最近使用", "状态"], headers
    assert all(h["lines"] == 1 for h in headers), headers
    # 390 px: each token is a card whose fields carry their header as a label; no character-per-line column
    page = tokens_page(browser, site, 390, "zh-CN")
    shot(page, "tokens-390-zh")
    assert _lines(page, "#token_list thead")[0]["hidden"], "the header row shows at 390 px"
    labels = page.evaluate("""() => [...document.querySelectorAll('#token_list tbody tr:first-child [data-label]')]
        .map((c) => [c.dataset.label, getComputedStyle(c, '::before').content])""")
    assert [label for label, _ in labels] == ["名称", "开头", "范围", "创建时间", "过期时间", "最近使用", "状态"]
    assert all(content.strip('"') == label for label, content in labels), labels
    cells = _lines(page, "#token_list tbody td, #token_list tbody th")
    for cell in cells:
        assert cell["right"] <= 390, cell
        assert cell["lines"] <= 2, cell  # label and value side by side; a long scope wraps at most once
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"
