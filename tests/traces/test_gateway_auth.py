"""The endpoint's API key: decrypted from its secret, sent to the provider, refused when wrong (real server)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import pytest

from studio.crypto import secret_create
from studio.models import EgressAllowedHost
from tests.traces.helpers import QUESTION, SHORT, call, unused_port
from traces.gateway import GatewayError, SpanContext, complete
from traces.management.commands.serve_model import find_model_file, server_argv
from traces.models import ModelEndpoint, Span, StructuredOutput

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.model]

SERVER_KEY = "sk-local-test-key-0123456789abcdef"


def _answers(base_url: str) -> bool:
    try:
        with urlopen(f"{base_url}/models", timeout=1):  # noqa: S310 - local test server
            return True
    except HTTPError:  # 401 without the key: the server is up
        return True
    except (URLError, OSError):
        return False


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second llama.cpp server that requires ``Authorization: Bearer SERVER_KEY``."""
    port = unused_port()
    argv = [*server_argv(model=find_model_file(), host="127.0.0.1", port=port, n_ctx=512, threads=1)]
    argv += ["--api_key", SERVER_KEY]
    log = tmp_path_factory.mktemp("keyed") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while not _answers(base_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"keyed llama.cpp server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.25)  # polling a server that is loading its model
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _endpoint(project, base_url: str, key: str) -> ModelEndpoint:  # type: ignore[no-untyped-def]
    EgressAllowedHost.objects.create(project=project, host=base_url.split("/")[2], note="the keyed server")
    return ModelEndpoint.objects.create(
        project=project,
        slug="keyed",
        name="Keyed",
        model="openai/smollm2",
        api_base=base_url,
        structured_output=StructuredOutput.JSON_OBJECT_SCHEMA,
        input_price_per_mtok=0,
        output_price_per_mtok=0,
        api_key_secret=secret_create(project=project, name="LLM_KEY", value=key),
    )


def test_the_decrypted_key_is_sent_and_never_stored_in_the_span(project, keyed_server):
    endpoint = _endpoint(project, keyed_server, SERVER_KEY)

    completion = call(
        complete,
        endpoint=endpoint,
        messages=QUESTION,
        params=SHORT,
        context=SpanContext(project_id=project.pk, trace_id=None),
    )

    assert completion.output_tokens > 0
    span = Span.objects.get(pk=completion.span_id)
    assert SERVER_KEY not in str([span.input, span.output, span.error])


def test_a_wrong_key_is_an_auth_error_that_is_not_retried(project, keyed_server):
    endpoint = _endpoint(project, keyed_server, "sk-wrong-key-9876543210fedcba")

    with pytest.raises(GatewayError) as caught:
        call(
            complete,
            endpoint=endpoint,
            messages=QUESTION,
            params=SHORT,
            context=SpanContext(project_id=project.pk, trace_id=None),
        )

    assert caught.value.code == "auth" and caught.value.transient is False
    span = Span.objects.get(pk=caught.value.span_id)
    assert span.error_code == "auth" and "sk-wrong-key" not in span.error
