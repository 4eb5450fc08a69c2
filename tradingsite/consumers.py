"""The one authenticated WebSocket: every push to a trader's pages goes through it."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from tradingsite.events import user_group


class EventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups_joined = [user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # Clients only listen for now; a ping lets them check the connection end to end.
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def event_forward(self, message):
        """Forward an event produced by `events.send_to_user` unchanged to the browser."""
        await self.send_json(message["event"])
