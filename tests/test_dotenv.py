"""Every ``wixapp`` command reads ``.env`` from the working folder; the environment wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def wixapp(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("WIX_", "WIXAPP_"))}
    return subprocess.run(
        [sys.executable, "-m", "wixapp", *args],
        cwd=folder,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_dotenv_configures_a_command_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# the database of this project\nWIXAPP_DATABASE_URL=sqlite:///./from-dotenv.db\n"
    )

    from_file = wixapp(tmp_path, "migrate")
    assert from_file.returncode == 0, from_file.stderr
    assert (tmp_path / "from-dotenv.db").is_file()

    environment_first = wixapp(
        tmp_path, "migrate", WIXAPP_DATABASE_URL="sqlite:///./from-environment.db"
    )
    assert environment_first.returncode == 0, environment_first.stderr
    assert (tmp_path / "from-environment.db").is_file()


def test_a_missing_variable_is_still_named_when_dotenv_lacks_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WIX_APP_ID=app-from-dotenv\n")

    result = wixapp(tmp_path, "serve", "--port", "9")

    assert result.returncode == 2
    assert result.stderr.strip() == "wixapp configuration: WIX_APP_SECRET is not set."
