"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kubenode.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from nodes.routing import websocket_urlpatterns  # noqa: E402
from progress.ws_security import OriginValidator  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
})

from progress.embedded import start_when_serving as start_worker_when_serving  # noqa: E402
from progress.notify import start_listener_when_serving  # noqa: E402

start_listener_when_serving()
start_worker_when_serving()  # logs the mode; on SQLite (embedded default) this process runs the batches too
