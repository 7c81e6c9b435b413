"""The code blocks of README.md, so tests run what the README shows instead of a copy."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["README", "readme_blocks"]

README = Path(__file__).resolve().parents[1] / "README.md"

_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_blocks(section: str, language: str) -> list[str]:
    """The ``language`` code blocks under the ``## section`` heading, in order."""
    text = README.read_text(encoding="utf-8")
    heading = f"\n## {section}\n"
    if heading not in text:
        raise LookupError(f"README.md has no section '## {section}'")
    body = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [code for lang, code in _BLOCK.findall(body) if lang == language]
