"""The built bundles are named in two places, the Makefile (which builds them) and setup.py
(which refuses to package a tree without them): the two lists must agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _makefile_bundles() -> set[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    match = re.search(r"^BUNDLES\s*:=(.*)$", text, flags=re.MULTILINE)
    assert match is not None, "the Makefile no longer defines BUNDLES"
    return set(match.group(1).split())


def _setup_bundles() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "BUNDLES" for target in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError("setup.py no longer defines BUNDLES")


def test_setup_py_checks_every_bundle_the_makefile_builds() -> None:
    assert _setup_bundles() == _makefile_bundles()
