"""The `xaso` console script run for real as a subprocess, in its own working directory with its own
XASO_* environment, bounded in time."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SECRET = "cli-test-secret-key-not-for-production"
TIMEOUT = 90.0  # seconds for one run of the script; a normal run takes 0.2 to 4 s


def xaso_command() -> list[str]:
    """The installed console script next to this interpreter, or the module if it is missing."""
    script = Path(sys.executable).with_name("xaso")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bots.cli"]


@dataclass(frozen=True)
class Xaso:
    """Runs `xaso ARGS…` in its own working directory with its own XASO_* environment."""

    cwd: Path
    env: dict[str, str]

    @classmethod
    def make(cls, root: Path, database_url: str, var_dir: Path) -> Xaso:
        cwd = root / "cwd"
        cwd.mkdir(parents=True, exist_ok=True)
        env = {key: value for key, value in os.environ.items() if not key.startswith("XASO_")}
        env.update(XASO_DATABASE_URL=database_url, XASO_SECRET_KEY=SECRET, XASO_VAR_DIR=str(var_dir))
        return cls(cwd, env)

    def command(self, args: Sequence[str]) -> list[str]:
        return [*xaso_command(), *args]

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(args), input=stdin, capture_output=True, text=True, encoding="utf-8",
            cwd=self.cwd, env=self.env, timeout=TIMEOUT, check=False,
        )


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
