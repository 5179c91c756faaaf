"""Websocket routes (composition root: may import any app)."""

from django.urls import path

from agents.consumers import RunConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
]
