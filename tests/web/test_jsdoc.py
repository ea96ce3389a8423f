"""Every name web/*.js exports has a JSDoc block; an exported function's block types its parameters."""

from __future__ import annotations

import re

from tests.web.conftest import ROOT

EXPORT = re.compile(r"^export (?:async )?(function|class|const) (\w+)(.*)$")


def undocumented(source: str) -> list[str]:
    missing = []
    lines = source.splitlines()
    for number, line in enumerate(lines):
        match = EXPORT.match(line)
        if not match:
            continue
        kind, name, rest = match.groups()
        above = [text for text in lines[:number] if text.strip()]
        if not above or not above[-1].rstrip().endswith("*/"):
            missing.append(name)
            continue
        start = max(i for i, text in enumerate(above) if text.lstrip().startswith("/**"))
        block = "\n".join(above[start:])
        takes_parameters = kind == "function" and not rest.startswith("()")
        if takes_parameters and "@param" not in block:
            missing.append(f"{name} (@param)")
    return missing


def test_every_export_of_web_has_jsdoc():
    missing = {path.name: names for path in sorted((ROOT / "web").glob("*.js"))
               if (names := undocumented(path.read_text()))}
    assert missing == {}


def test_the_check_finds_a_missing_block_and_missing_params():
    source = ("/** Adds. */\nexport function add(a, b) {}\n\n"
              "export class Plain {}\n/** Now. */\nexport function now() {}\n")
    assert undocumented(source) == ["add (@param)", "Plain"]
