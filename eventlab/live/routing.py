from django.urls import path

from .consumers import LabConsumer

websocket_urlpatterns = [path("ws/labs/<str:lab_id>/", LabConsumer.as_asgi())]
