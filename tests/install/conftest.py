"""wixapp as a user gets it: the sdist, the wheel built from it, fresh virtual environments.

Every test of the installed package uses these session fixtures, so a session builds once:

- ``sdist``: ``python -m build --sdist`` of this checkout (``make dist`` makes the same); it
  carries the built JS bundles, so ``make frontend`` must have run.
- ``wheelhouse``: one ``pip wheel`` run builds wixapp's wheel from that sdist with no Node on
  the PATH (``no_node_path``), as an installer would, and fetches the wheels of everything
  it needs with the extras in ``WHEELHOUSE_EXTRAS``, and of what a scaffolded project
  installs beside it (``SCAFFOLD_REQUIREMENTS``), from the machine's package index: the
  only resolution against the index in a session. ``wixapp_wheel`` is the built wheel.
- ``fresh_venv("wixapp")``, ``fresh_venv("wixapp[testing]")``: a :class:`Venv` with exactly
  those requirements installed from the wheelhouse (``pip install --no-index``), made once
  per set of requirements. ``Venv.run`` runs its commands with an environment free of this
  suite's Python settings, from a folder outside the checkout, so nothing leaks in from the
  development install.
"""

from __future__ import annotations

import os
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
# Built from frontend/ by `make frontend`; the sdist carries them, so installs need no Node.
BUILT_BUNDLES = (
    "static/widget.js",
    "static/panel.js",
    "static/widget-react.js",
    "emulator/pages/editor-host.js",
    "emulator/pages/site-host.js",
    "static/cli-widget.js",
    "static/cli-widget-react.js",
    "static/cli-panel.js",
    "emulator/pages/dashboard-host.js",
    "static/dashboard.js",
)
# What `wixapp new`'s project installs besides wixapp: its dev extra and its build backend.
_TEMPLATE = tomllib.loads(
    (CHECKOUT / "src/wixapp/scaffold/template/pyproject.toml").read_text(encoding="utf-8")
)
SCAFFOLD_REQUIREMENTS = (
    *_TEMPLATE["project"]["optional-dependencies"]["dev"],
    *_TEMPLATE["build-system"]["requires"],
)
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


def _run_with_path(
    *command: str | Path, path: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to the end; ``path`` replaces PATH (to hide node and npm)."""
    env = {**os.environ, "PATH": path} if path is not None else None
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _check(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode != 0:
        pytest.fail(f"{' '.join(done.args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


@pytest.fixture(scope="session")
def no_node_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH with nothing on it: no node, no npm (the build tools run from sys.executable)."""
    return str(tmp_path_factory.mktemp("empty-path"))


@pytest.fixture(scope="session")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --sdist`` of this checkout, as ``make dist`` makes it."""
    missing = [name for name in BUILT_BUNDLES if not (CHECKOUT / "src/wixapp" / name).is_file()]
    if missing:
        pytest.fail(f"bundles not built ({', '.join(missing)}): run `make frontend`")
    out = tmp_path_factory.mktemp("sdist")
    _check(_run_with_path(sys.executable, "-m", "build", "--sdist", "--outdir", out, CHECKOUT))
    (archive,) = out.glob("wixapp-*.tar.gz")
    return archive


@pytest.fixture(scope="session")
def wheelhouse(sdist: Path, no_node_path: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    house = tmp_path_factory.mktemp("wheelhouse")
    extras = ",".join(WHEELHOUSE_EXTRAS)
    # From the sdist, with no Node on the PATH, as an installer builds it.
    _check(
        _run_with_path(
            sys.executable,
            "-m",
            "pip",
            "--quiet",
            "wheel",
            "--wheel-dir",
            house,
            f"{sdist}[{extras}]",
            *SCAFFOLD_REQUIREMENTS,
            path=no_node_path,
        )
    )
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
    _check(
        _run_with_path(
            sys.executable,
            "-m",
            "pip",
            "--quiet",
            "--python",
            path / "bin" / "python",
            "install",
            "--no-index",
            "--find-links",
            wheelhouse,
            "--no-compile",  # bytecode is written on first import instead
            *requirements,
        )
    )
    return Venv(path=path, workdir=tmp_path_factory.mktemp("workdir"))
