"""Operator commands end without a traceback for anything a user can do, and
each says what to do instead (issue 22, part 7). Run as real processes: a
traceback at interpreter exit (a closed pipe) only shows there."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

HELPLINE = Path(sys.executable).with_name("helpline")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update(extra)
    return env


def keys() -> dict[str, str]:
    return {"HELPLINE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "HELPLINE_INDEX_KEY": base64.b64encode(os.urandom(32)).decode()}


def run(args: list[str], cwd: Path, env: dict[str, str],
        stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELPLINE), *args], cwd=cwd, env=env, stdin=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Error:" not in result.stderr.replace("helpline:", ""), result.stderr


def test_doctor_in_an_empty_directory_creates_nothing(tmp_path: Path) -> None:
    result = run(["doctor"], tmp_path, clean_env())
    assert result.returncode == 1
    assert "helpline.db does not exist yet" in result.stdout
    assert "helpline migrate" in result.stdout
    # With nothing there, the mode check says so instead of vouching for files it never saw.
    assert "no database, inbox or key store file here yet" in result.stdout
    assert "are 0600" not in result.stdout
    no_traceback(result)
    assert list(tmp_path.iterdir()) == []


def test_doctor_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    # `helpline doctor | head -3`: the reader is gone before the report is written.
    with subprocess.Popen([str(HELPLINE), "doctor"], cwd=tmp_path, env=clean_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        err = process.stderr.read().decode()
        assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, as a shell tool would end
    assert "BrokenPipeError" not in err
    assert "Traceback" not in err


def test_user_add_without_a_terminal_says_to_use_password_stdin(tmp_path: Path) -> None:
    result = run(["user", "add", "--username", "noor", "--role", "volunteer"],
                 tmp_path, clean_env(**keys()))
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr
    assert "EOFError" not in result.stderr
    no_traceback(result)
    assert list(tmp_path.iterdir()) == []  # nothing created for a command that did nothing


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite:////nonexistent-dir/helpline.db", "No such file or directory"),
        ("not a url", "not a database URL"),
        ("postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none", "cannot use the database"),
    ],
)
def test_migrate_against_a_database_it_cannot_use_says_why(
    tmp_path: Path, url: str, says: str
) -> None:
    result = run(["migrate"], tmp_path, clean_env(HELPLINE_DATABASE_URL=url, **keys()))
    assert result.returncode == 2
    assert says in result.stderr
    assert "secret-pw" not in result.stderr
    no_traceback(result)


def test_purge_before_migrate_says_to_migrate(tmp_path: Path) -> None:
    result = run(["purge"], tmp_path, clean_env(**keys()))
    assert result.returncode == 2
    assert "helpline migrate" in result.stderr
    no_traceback(result)
