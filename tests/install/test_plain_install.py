"""A plain ``pip install wixapp`` (no extras) runs the command line and the demo."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CHECKOUT, PYPROJECT, Venv, normalise_name

PACKAGE = CHECKOUT / "src" / "wixapp"
DEV_ONLY = {
    normalise_name(requirement.split("=")[0].split("<")[0].split(">")[0].split("[")[0])
    for requirement in PYPROJECT["project"]["optional-dependencies"]["dev"]
}


@pytest.fixture(scope="module")
def plain(fresh_venv: Callable[..., Venv]) -> Venv:
    return fresh_venv("wixapp")


def test_pyproject_names_only_files_that_exist() -> None:
    # setuptools skips a package-data pattern that matches nothing, silently.
    for pattern in PYPROJECT["tool"]["setuptools"]["package-data"]["wixapp"]:
        assert list(PACKAGE.glob(pattern)), f"package-data {pattern!r} matches no file"
    assert (CHECKOUT / PYPROJECT["project"]["readme"]).is_file()
    entry_points = PYPROJECT["project"]["entry-points"]["pytest11"].values()
    scripts = [target.split(":")[0] for target in PYPROJECT["project"]["scripts"].values()]
    for module in [*entry_points, *scripts]:
        assert (CHECKOUT / "src" / f"{module.replace('.', '/')}.py").is_file(), module


@pytest.mark.slow
def test_the_wheel_carries_every_file_of_the_package(wixapp_wheel: Path) -> None:
    with zipfile.ZipFile(wixapp_wheel) as wheel:
        carried = {name for name in wheel.namelist() if name.startswith("wixapp/")}
    in_tree = {
        f"wixapp/{path.relative_to(PACKAGE).as_posix()}"
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert in_tree - carried == set()


@pytest.mark.slow
def test_a_plain_install_brings_no_development_package(plain: Venv) -> None:
    installed = plain.installed()
    assert "wixapp" in installed
    assert installed & DEV_ONLY == set()
    # the package itself, not a link to this checkout as an editable install makes
    assert (plain.site_packages / "wixapp" / "__init__.py").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [["wixapp", "--help"], ["python", "-m", "wixapp", "--help"]], ids=" ".join
)
def test_the_command_line_answers_help(plain: Venv, command: list[str]) -> None:
    result = plain.run(*command)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: wixapp")
    for subcommand in ("serve", "emulator", "migrate", "demo"):
        assert subcommand in result.stdout


@pytest.mark.slow
def test_the_demo_runs_on_a_plain_install(plain: Venv) -> None:
    result = plain.run("wixapp", "demo", "--once", "--port", "0", "--emulator-port", "0")

    assert result.returncode == 0, result.stderr
    assert "the backend identified instance" in result.stdout
    assert "greeting: 'Welcome to the Bakery!'" in result.stdout
    assert (plain.workdir / "var" / "demo.db").is_file()  # the default database URL
