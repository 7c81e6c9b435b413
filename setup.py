"""Packaging hook: every sdist and wheel carries the built browser bundles.

The widget and panel bundles (``src/wixapp/static/*.js``) and the emulator's host pages'
scripts (``src/wixapp/emulator/pages/*-host.js``) are built from ``frontend/`` by esbuild. A tree
that already has them (a checkout after ``make frontend``, or an sdist) is packaged as it is,
with no Node needed; a tree without them builds them first with ``npm ci`` and
``node build.mjs``. Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
FRONTEND = ROOT / "frontend"
BUNDLES = (
    "src/wixapp/static/widget.js",
    "src/wixapp/static/panel.js",
    "src/wixapp/static/widget-react.js",
    "src/wixapp/emulator/pages/editor-host.js",
    "src/wixapp/emulator/pages/site-host.js",
    "src/wixapp/static/cli-widget.js",
    "src/wixapp/static/cli-widget-react.js",
    "src/wixapp/static/cli-panel.js",
    "src/wixapp/emulator/pages/dashboard-host.js",
    "src/wixapp/static/dashboard.js",
)


def missing_bundles() -> list[str]:
    return [name for name in BUNDLES if not (ROOT / name).is_file()]


def ensure_bundles() -> None:
    missing = missing_bundles()
    if not missing:
        return
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise SystemExit(
            f"wixapp: the browser bundles are missing ({', '.join(missing)}) and Node.js is not"
            " on PATH: install Node.js 18+ with npm, or build from an sdist, which carries them."
        )
    if not (FRONTEND / "node_modules" / ".package-lock.json").is_file():
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
    subprocess.run([node, "build.mjs"], cwd=FRONTEND, check=True)


class BuildPyWithBundles(build_py):
    def run(self) -> None:
        # An editable install serves the bundles from the tree; `make frontend` builds them.
        if not getattr(self, "editable_mode", False):
            ensure_bundles()
        super().run()


class SdistWithBundles(sdist):
    def run(self) -> None:
        ensure_bundles()
        super().run()


setup(cmdclass={"build_py": BuildPyWithBundles, "sdist": SdistWithBundles})
