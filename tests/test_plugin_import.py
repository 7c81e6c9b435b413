"""The pytest plugin loads in every pytest run wherever wixapp is installed: importing it
must not drag in the emulator or the server's frameworks."""

from __future__ import annotations

import json
import subprocess
import sys

import wixapp.testing

HEAVY = ("wixapp.emulator", "fastapi", "sqlalchemy", "starlette", "uvicorn")


def test_importing_the_plugin_loads_no_heavy_module() -> None:
    code = (
        "import json, sys, wixapp.testing.plugin; "
        f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert json.loads(result.stdout) == []


def test_every_testing_helper_resolves() -> None:
    for name in wixapp.testing.__all__:
        assert getattr(wixapp.testing, name) is not None, name


def test_each_helper_is_itself_even_after_its_module_was_imported() -> None:
    # Importing a submodule binds its name on the package: a helper may not share a name
    # with a module of the package, or `from wixapp.testing import x` gives the module.
    code = (
        "import importlib, json, pkgutil, wixapp.testing as t; "
        "[importlib.import_module(f't.{m.name}'.replace('t.', 'wixapp.testing.', 1)) "
        "for m in pkgutil.iter_modules(t.__path__)]; "
        "print(json.dumps([n for n in t.__all__ if type(getattr(t, n)).__name__ == 'module']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert json.loads(result.stdout) == []
