"""A project made by a wheel-installed ``wixapp new`` passes its own ``make test``.

``wixapp new`` runs from a fresh virtual environment holding only wixapp's wheel, so the
generated Makefile names ``wixapp==<version>``; ``make test`` then does what it does on a
user's machine (its own ``.venv``, wixapp and the project's dev extra, the npm packages, the
bundles, the API and browser tests), with pip pointed at this session's wheelhouse instead
of the package index and npm at its cache, so it runs offline against the built wheel.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Venv, clean_environment

MAKE_TEST_SECONDS = 900


@pytest.mark.slow
def test_make_test_passes_in_a_project_made_by_the_installed_wheel(
    fresh_venv: Callable[..., Venv], wheelhouse: Path, tmp_path: Path
) -> None:
    venv = fresh_venv("wixapp")
    created = venv.run("wixapp", "new", "notes-board", cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "notes-board"
    version = venv.run("python", "-c", "import wixapp; print(wixapp.__version__)").stdout.strip()
    assert f"WIXAPP ?= wixapp=={version}\n" in (project / "Makefile").read_text()

    done = _make_test(project, venv, wheelhouse)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert " passed" in output, output[-3000:]
    assert "failed" not in output, output[-3000:]
    assert "skipped" not in output, output[-3000:]
    assert _wixapp_location(project).is_relative_to(project / ".venv")  # not this checkout


def _make_test(project: Path, venv: Venv, wheelhouse: Path) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    assert make is not None
    offline = {
        "PIP_NO_INDEX": "1",  # every Python package from the wheelhouse, wixapp's wheel too
        "PIP_FIND_LINKS": str(wheelhouse),
        "npm_config_prefer_offline": "true",
    }
    return subprocess.run(
        [make, "test", "PYTEST_ARGS=-p no:cacheprovider -q"],
        cwd=project,
        env={**clean_environment(venv), **offline},
        capture_output=True,
        text=True,
        timeout=MAKE_TEST_SECONDS,
        check=False,
    )


def _wixapp_location(project: Path) -> Path:
    python = project / ".venv/bin/python"
    where = subprocess.run(
        [python, "-c", "import wixapp; print(wixapp.__file__)"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Path(where.stdout.strip())
