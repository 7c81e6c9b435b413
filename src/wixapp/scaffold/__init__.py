"""``wixapp new NAME``: a complete Wix app of one's own, generated from ``template/``.

The template is a working project (its own tests pass in this repository's suite) whose
names are placeholders: ``wixnew_app`` (the Python package), ``wixnew-app`` (the project,
the widget's tag prefix, the npm package) and ``Wixnew App`` (the title). Generating a
project copies it with those replaced, and writes where wixapp itself comes from into the
Makefile, so ``make test`` works from a fresh clone of the result.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from wixapp.errors import ConfigurationError

__all__ = ["ProjectNames", "create_project", "wixapp_install_spec"]

TEMPLATE = Path(__file__).resolve().with_name("template")

_PLACEHOLDERS = ("wixnew_app", "wixnew-app", "Wixnew App")
_SPEC_PLACEHOLDER = "__WIXAPP_SPEC__"
# Files kept under another name in the package (packaging tools skip dotfiles).
_RENAMED = {"gitignore": ".gitignore", "npmrc": ".npmrc"}
# Never copied: caches a tool run in the template leaves behind, installs, local data.
_SKIPPED = {
    *("__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"),
    *("node_modules", ".venv", "var"),
}
_BUILT = re.compile(r"static/[^/]+\.js$")  # bundles are built in the new project, not copied
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


@dataclass(frozen=True)
class ProjectNames:
    """One project name in its three spellings."""

    package: str  # notes_board: the Python package
    kebab: str  # notes-board: the folder, the distribution, the widget's tag prefix
    title: str  # Notes Board

    @classmethod
    def parse(cls, name: str) -> ProjectNames:
        if not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"{name!r} is not a usable app name: use lowercase letters, digits and single"
                " '-' or '_' between words, starting with a letter (for example notes-board)."
            )
        package = name.replace("-", "_")
        if package == "wixapp" or package in sys.stdlib_module_names:
            raise ConfigurationError(
                f"{name!r} would shadow the {package!r} module: choose another name."
            )
        if keyword.iskeyword(package) or keyword.issoftkeyword(package):
            raise ConfigurationError(
                f"{name!r} is a Python keyword, so `import {package}` cannot work: choose "
                f"another name (for example {name}-app)."
            )
        words = package.split("_")
        return cls(package, "-".join(words), " ".join(word.capitalize() for word in words))

    def apply(self, text: str) -> str:
        for placeholder, value in zip(
            _PLACEHOLDERS, (self.package, self.kebab, self.title), strict=True
        ):
            text = text.replace(placeholder, value)
        return text


def create_project(
    name: str, folder: Path | None = None, *, wixapp_spec: str | None = None
) -> Path:
    """Write a new project named ``name`` into ``folder`` (default ``./<name>``); returns it.

    ``wixapp_spec`` is what the project's Makefile installs wixapp from (default: where the
    running wixapp came from, see :func:`wixapp_install_spec`).
    """
    names = ProjectNames.parse(name)
    folder = (folder or Path.cwd() / names.kebab).resolve()
    if folder.exists() and any(folder.iterdir()):
        raise ConfigurationError(f"{folder} already exists and is not empty: choose another.")
    spec = wixapp_spec or wixapp_install_spec()
    for source in sorted(TEMPLATE.rglob("*")):
        relative = source.relative_to(TEMPLATE)
        if source.is_dir() or _skipped(relative):
            continue
        target = folder / names.apply(
            str(relative.with_name(_RENAMED.get(source.name, source.name)))
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        text = names.apply(source.read_text(encoding="utf-8")).replace(_SPEC_PLACEHOLDER, spec)
        target.write_text(text, encoding="utf-8")
    return folder


def _skipped(relative: Path) -> bool:
    return bool(_SKIPPED.intersection(relative.parts)) or bool(_BUILT.search(relative.as_posix()))


def wixapp_install_spec() -> str:
    """What ``pip install`` needs to get this same wixapp: its folder or wheel when it was
    installed from one (PEP 610 ``direct_url.json``), else ``wixapp==<version>``."""
    distribution = metadata.distribution("wixapp")
    direct = distribution.read_text("direct_url.json")
    if direct:
        url = str(json.loads(direct).get("url", ""))
        if url.startswith("file://"):
            return url.removeprefix("file://")
    return f"wixapp=={distribution.version}"
