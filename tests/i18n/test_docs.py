"""The Chinese README, the glossary and the Chinese screenshots stay in step with the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_every_english_screenshot_has_a_chinese_one_beside_it():
    english = sorted(p.name for p in (DOCS / "screenshots").glob("*.png") if not p.name.endswith(".zh-CN.png"))
    assert len(english) >= 6
    missing = [n for n in english if not (DOCS / "screenshots" / n.replace(".png", ".zh-CN.png")).exists()]
    assert not missing, f"no Chinese screenshot beside {missing} (make screenshots)"


def test_the_chinese_readme_links_resolve_and_the_readme_links_it():
    assert "(docs/README.zh-CN.md)" in (ROOT / "README.md").read_text()
    for doc in ("README.zh-CN.md", "glossary.zh-CN.md", "i18n.md"):
        text = (DOCS / doc).read_text()
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if "://" not in target:
                assert (DOCS / target).exists(), f"docs/{doc} links to {target}, which does not exist"


def test_the_chinese_readme_covers_the_two_commands_configuration_and_migration():
    text = (DOCS / "README.zh-CN.md").read_text()
    for needle in ("make run", "make test", "## 配置", "server.languages", "## 从 kube-node-manager 迁移",
                   "SECRET_KEY", "config_show"):
        assert needle in text, needle


def test_the_glossary_holds_the_kubernetes_words_the_catalogue_uses():
    glossary = (DOCS / "glossary.zh-CN.md").read_text()
    catalogue = (ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po").read_text()
    for english, chinese in (("node", "节点"), ("label", "标签"), ("taint", "污点"), ("evict", "驱逐"),
                             ("cordon", "封锁"), ("uncordon", "解除封锁"), ("drain", "腾空")):
        assert re.search(rf"\| {english}\b[^|]*\| {chinese}", glossary), (english, chinese)
        assert chinese in catalogue, chinese
    assert "清空" not in catalogue  # drain is 腾空 throughout (the Kubernetes glossary's word)
