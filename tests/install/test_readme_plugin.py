"""The README's pytest example passes in a fresh project that installs what the README says.

The project is a folder with the README's example as its only file and no pytest
configuration, in a virtual environment holding what the README's ``pip install`` line names
(``wixapp`` there is this checkout's wheel), and nothing else.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from readme_blocks import readme_blocks

from .conftest import Venv

SECTION = "Test your own code offline"


def _readme_requirements() -> list[str]:
    (install,) = readme_blocks(SECTION, "sh")
    words = shlex.split(install, comments=True)
    assert words[:2] == ["pip", "install"], f"README: expected a pip install line: {install!r}"
    return words[2:]


def test_the_readme_tells_users_to_install_wixapp() -> None:
    assert any(word.split("[")[0] == "wixapp" for word in _readme_requirements())


@pytest.mark.slow
def test_the_readme_example_passes_in_a_fresh_project(
    fresh_venv: Callable[..., Venv], tmp_path: Path
) -> None:
    venv = fresh_venv(*_readme_requirements())
    (example,) = readme_blocks(SECTION, "python")
    (tmp_path / "test_example.py").write_text(example, encoding="utf-8")

    result = venv.run("pytest", "-W", "error", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
    assert "configfile" not in result.stdout  # no configuration of ours came along
