"""WebSocket routes: one socket for the progress frames and the live node pages."""

from django.urls import path

from .consumers import ConsoleConsumer

websocket_urlpatterns = [path("ws/progress/", ConsoleConsumer.as_asgi())]
