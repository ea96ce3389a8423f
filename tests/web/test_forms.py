"""forms.js's h() is web/'s one DOM helper: `text` fills textContent, false and null children are left out."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import ROOT

pytestmark = pytest.mark.timeout(60)

BUILD = """async () => {
    const { h } = await import("/forms.js");
    const option = h("option", { value: "adam", text: "Adam", selected: true });
    const label = h("label", { for: "lr", text: 0.5 }, false, null, h("b", {}, "!"));
    return {
        option: [option.textContent, option.value, option.hasAttribute("text"), option.selected],
        label: [label.textContent, label.getAttribute("for"), label.hasAttribute("text"),
                label.childNodes.length],
    };
}"""


def test_h_puts_text_in_text_content_and_leaves_out_empty_children(page):
    page.goto("/")
    built = page.evaluate(BUILD)
    assert built["option"] == ["Adam", "adam", False, True]
    assert built["label"] == ["0.5!", "lr", False, 2]


def test_only_forms_js_defines_h():
    defining = [path.name for path in sorted((ROOT / "web").glob("*.js"))
                if re.search(r"^(export )?function h\(", path.read_text(), re.MULTILINE)]
    assert defining == ["forms.js"]
    lab = (ROOT / "web" / "lab.js").read_text()
    assert re.search(r'^import \{ h \} from "\./forms\.js";$', lab, re.MULTILINE)
