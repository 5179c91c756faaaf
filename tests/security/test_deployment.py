"""Deployment defaults (issue 7, item 12): one HTTPS switch, a clean ``check --deploy``, private data files."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def studio_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production-like process: studio.settings, quickstart storage under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "DEBUG"}}
    env.update(DJANGO_SETTINGS_MODULE="studio.settings", STUDIO_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_check_deploy_prints_no_warning_with_studio_https(tmp_path: Path) -> None:
    env = studio_env(
        tmp_path, STUDIO_HTTPS="1", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="studio.example.com"
    )
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output and "W0" not in output, output


def test_without_the_switch_check_deploy_names_the_https_settings(tmp_path: Path) -> None:
    env = studio_env(tmp_path, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(64))
    output = run(["manage.py", "check", "--deploy"], env).stderr
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output


def test_https_switch_turns_on_every_https_setting(tmp_path: Path) -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, 'testserver' in s.ALLOWED_HOSTS)"
    )
    result = run(["-c", code], studio_env(tmp_path, STUDIO_HTTPS="1"))
    assert result.stdout.split() == ["True"] * 5 + ["False"], result.stderr
    plain = run(
        ["-c", code.replace("s.SECURE_HSTS_SECONDS >= 31536000", "s.SECURE_HSTS_SECONDS")], studio_env(tmp_path)
    )
    assert plain.stdout.split() == ["False", "0", "False", "False", "False", "False"], plain.stderr


def test_testserver_is_allowed_only_in_tests() -> None:
    assert "testserver" in settings.ALLOWED_HOSTS  # tests.settings adds it for Django's test client


def test_data_folder_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    code = (
        "import django; django.setup(); from django.db import connection; "
        "cursor = connection.cursor(); cursor.execute('CREATE TABLE t (x INTEGER)'); "
        "cursor.execute('INSERT INTO t VALUES (1)')"
    )
    result = run(["-c", code], studio_env(tmp_path))
    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data.iterdir()}
    assert {"studio.sqlite3", "secret_key", "fernet_key"} <= set(files), files
    assert set(files.values()) == {0o600}, files


def test_a_loose_existing_data_folder_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    for name in ("studio.sqlite3", "secret_key"):
        (data / name).write_text("" if name.endswith("3") else "k" * 50)
        (data / name).chmod(0o644)
    result = run(["-c", "import django; django.setup()"], studio_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "studio.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "secret_key").stat().st_mode) == 0o600
