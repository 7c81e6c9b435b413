"""wixapp as a user installs it: this checkout's wheel in fresh virtual environments.

Reusable by any test that must see the installed package rather than the source tree:

- ``wheelhouse`` (session): one ``pip wheel`` run builds this checkout's wheel (from a
  copy of ``pyproject.toml``, ``README.md`` and ``src/``, so whatever is built into
  ``src/wixapp`` at that moment, the JS bundles included, goes in as package data) and
  fetches the wheels of everything it needs with the extras in ``WHEELHOUSE_EXTRAS``, from
  the machine's package index. That is the only resolution against the index in a session.
- ``wixapp_wheel`` (session): the path of the built wheel.
- ``fresh_venv`` (session): ``fresh_venv("wixapp")`` or ``fresh_venv("wixapp[testing]")``
  gives a :class:`Venv` with exactly those requirements installed from the wheelhouse
  (``pip install --no-index``), created once per set of requirements in a session.
  ``Venv.run`` runs its commands with an environment free of this suite's Python settings,
  from a folder outside the checkout, so nothing leaks in from the development install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((CHECKOUT / "pyproject.toml").read_text(encoding="utf-8"))
# The extras the wheelhouse holds wheels for: add one here when a test installs it.
WHEELHOUSE_EXTRAS = ("testing",)
# Variables of this suite's interpreter that must not reach a fresh environment.
_LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTEST_ADDOPTS")


@dataclass(frozen=True)
class Venv:
    """A virtual environment with wixapp installed from its wheel."""

    path: Path
    workdir: Path  # outside the checkout: the current folder of ``run``

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    @property
    def python(self) -> Path:
        return self.bin("python")

    def run(
        self, *command: str | Path, timeout: float = 120, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (its first word a program of this venv, or a path) to the end."""
        program, *args = command
        executable = program if isinstance(program, Path) else self.bin(program)
        return subprocess.run(
            [str(executable), *map(str, args)],
            cwd=cwd or self.workdir,
            env=clean_environment(self),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @property
    def site_packages(self) -> Path:
        (folder,) = self.path.glob("lib/python3.*/site-packages")
        return folder

    def installed(self) -> set[str]:
        """The normalised names of the distributions installed in this venv."""
        return {
            normalise_name(info.name.split("-")[0])
            for info in self.site_packages.glob("*.dist-info")
        }


def clean_environment(venv: Venv) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in _LEAKY}
    env = {name: value for name, value in env.items() if not name.startswith(("WIX_", "WIXAPP_"))}
    env["PATH"] = f"{venv.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv.path)
    return env


def normalise_name(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _pip(*args: str | Path, timeout: float = 600) -> None:
    """This suite's pip (``--python`` points it at another environment when needed)."""
    command = [sys.executable, "-m", "pip", "--quiet", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def _copy_project(target: Path) -> Path:
    """What a source distribution holds: pyproject.toml, README.md, src/ (no caches)."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(CHECKOUT / name, target / name)
    shutil.copytree(
        CHECKOUT / "src",
        target / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    return target


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = _copy_project(tmp_path_factory.mktemp("project"))
    house = tmp_path_factory.mktemp("wheelhouse")
    _pip("wheel", "--wheel-dir", house, f"{project}[{','.join(WHEELHOUSE_EXTRAS)}]")
    return house


@pytest.fixture(scope="session")
def wixapp_wheel(wheelhouse: Path) -> Path:
    (wheel,) = wheelhouse.glob("wixapp-*.whl")
    return wheel


@pytest.fixture(scope="session")
def fresh_venv(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Venv]:
    made: dict[tuple[str, ...], Venv] = {}

    def make(*requirements: str) -> Venv:
        key = tuple(requirements)
        if key not in made:
            made[key] = _make_venv(requirements, wheelhouse, tmp_path_factory)
        return made[key]

    return make


def _make_venv(
    requirements: Sequence[str], wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Venv:
    path = tmp_path_factory.mktemp("venv")
    # No pip inside: this suite's pip installs into it (--python), which saves a bootstrap.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True)
    _pip(
        "--python",
        path / "bin" / "python",
        "install",
        "--no-index",
        "--find-links",
        wheelhouse,
        "--no-compile",  # bytecode is written on first import instead
        *requirements,
    )
    return Venv(path=path, workdir=tmp_path_factory.mktemp("workdir"))
