"""ASGI entry point: HTTP through Django, websockets through Channels (session-authenticated, origin-checked)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventlab.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from eventlab.classroom.routing import websocket_urlpatterns as classroom_sockets  # noqa: E402
from eventlab.live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(SessionMiddlewareStack(URLRouter(websocket_urlpatterns + classroom_sockets))),
    }
)
