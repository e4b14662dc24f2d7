from django.urls import path

from .live import ClassConsumer

websocket_urlpatterns = [path("ws/classes/<str:class_id>/", ClassConsumer.as_asgi())]
