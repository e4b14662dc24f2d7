from channels.generic.websocket import AsyncWebsocketConsumer


class LabConsumer(AsyncWebsocketConsumer):
    pass
