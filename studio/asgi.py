"""ASGI entry point: HTTP through Django, websockets through Channels.

Websockets pass ``AllowedHostsOriginValidator`` (origin check) and
``AuthMiddlewareStack`` (session user); consumers check object access in
``connect()``. In quickstart mode this also starts the in-process run
executor with its sweeper (``agents.dispatch``).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from studio.lib.loops import remember_server_loop  # noqa: E402
from studio.routing import websocket_urlpatterns  # noqa: E402

if not settings.QUEUE_MODE:
    # Quickstart: runs execute on the in-process executor's own thread and loop, never on the
    # server's; it also recovers runs a restart interrupted, now and every STUDIO_SWEEP_SECONDS.
    from agents.dispatch import local_executor

    local_executor().start(recover=True)

# Every web process listens for prompt label changes (the pages and the API resolve labels too).
from prompts.cache import start_listener  # noqa: E402

start_listener()

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    """The router, after noting the server's event loop (see ``studio.lib.loops``)."""
    remember_server_loop()
    return await router(scope, receive, send)
