"""``wixapp new``: a generated project whose own tests (API, tenant isolation, and the
browser test in the emulator's pages) pass against this checkout.

To keep CI fast it reuses this checkout's virtual environment (the project's sources go on
PYTHONPATH; its only dependency is wixapp, with pytest and Playwright from the dev extras)
and npm's cache (``npm ci --prefer-offline`` still installs the project's own lock file).
``make test`` in a fresh clone of a generated project does the full install; the README of
the project says so and the closing figures of this feature measured it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wixapp.errors import ConfigurationError
from wixapp.scaffold import ProjectNames, create_project

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _run(*command: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output[-6000:]}"
    return output


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``wixapp new notes-board``, its npm packages installed and its bundles built."""
    parent = tmp_path_factory.mktemp("scaffold")
    _run(str(BIN / "wixapp"), "new", "notes-board", cwd=parent)
    folder = parent / "notes-board"
    frontend = folder / "frontend"
    _run(
        "npm", "ci", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", cwd=frontend
    )
    _run("node", "build.mjs", cwd=frontend)
    return folder


def test_the_generated_project_is_complete_and_named(project: Path) -> None:
    files = {path.relative_to(project).as_posix() for path in project.rglob("*")}
    for expected in (
        ".gitignore",
        "Makefile",
        "README.md",
        "pyproject.toml",
        "frontend/package.json",
        "frontend/package-lock.json",
        "frontend/.npmrc",
        "src/notes_board/main.py",
        "src/notes_board/tables.py",
        "src/notes_board/migrations/env.py",
        "src/notes_board/migrations/versions/0001_notes.py",
        "src/notes_board/static/widget.js",
        "src/notes_board/static/panel.js",
        "src/notes_board/static/dashboard.js",
        "src/notes_board/static/dashboard.html",
        "tests/test_notes_api.py",
        "tests/test_browser.py",
    ):
        assert expected in files, expected
    sources = [
        path
        for path in project.rglob("*")
        if path.is_file() and not {"node_modules", "static", "__pycache__"} & set(path.parts)
    ]
    assert not [path for path in sources if "wixnew" in path.read_text().lower()]
    assert f"WIXAPP ?= {ROOT}" in (project / "Makefile").read_text()
    assert "notes-board-widget" in (project / "frontend/src/widget.js").read_text()


def test_git_ignores_the_test_cache_and_the_migration_lock(project: Path) -> None:
    ignored = (project / ".gitignore").read_text().splitlines()
    assert ".pytest_cache/" in ignored
    assert "*.db.migrate.lock" in ignored


def test_make_says_in_one_line_that_node_and_npm_are_needed(project: Path, tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make is not None
    result = subprocess.run(  # a PATH with no node and no npm; -B: rebuild the bundles
        [make, "-B", "frontend"],
        cwd=project,
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Node.js 18+ and npm are needed to build the widget and panel" in result.stderr
    assert "npm: not found" not in result.stderr  # stopped before trying them
    assert "node: not found" not in result.stderr


def test_the_generated_project_passes_its_linter(project: Path) -> None:
    _run(str(BIN / "ruff"), "check", ".", cwd=project)
    _run(str(BIN / "ruff"), "format", "--check", ".", cwd=project)


def test_the_generated_projects_own_tests_pass_against_this_checkout(project: Path) -> None:
    output = _run(
        str(BIN / "python"),
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        cwd=project,
        env={"PYTHONPATH": str(project / "src")},
    )
    assert " passed" in output
    assert "failed" not in output, output[-3000:]
    assert "skipped" not in output, output[-3000:]


def test_the_demo_serves_the_generated_app(project: Path) -> None:
    output = _run(
        str(BIN / "wixapp"),
        "demo",
        "--once",
        "--port",
        "0",
        "--emulator-port",
        "0",
        "--app",
        "notes_board.main:create_app",
        "--factory",
        cwd=project,
        env={"PYTHONPATH": str(project / "src")},
    )
    assert "the backend identified instance" in output


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Notes", "not a usable app name"),
        ("1notes", "not a usable app name"),
        ("wixapp", "shadow"),
        ("json", "shadow"),
        ("notes--board", "not a usable app name"),
        ("class", "Python keyword"),
        ("match", "Python keyword"),
    ],
)
def test_unusable_names_are_refused_with_what_to_do(name: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        ProjectNames.parse(name)


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "notes-board").mkdir()
    (tmp_path / "notes-board" / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigurationError, match="not empty"):
        create_project("notes-board", tmp_path / "notes-board")
    assert (tmp_path / "notes-board" / "mine.txt").read_text() == "keep me"
