"""The one authenticated WebSocket: every push to a trader's pages goes through it."""

import re

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from marketdata.stream_sink import symbol_group
from tradingsite.events import staff_group, user_group
from tradingsite.socket_guard import session_group

MAX_SYMBOLS = 50
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,30}$")


def _valid_symbols(symbols) -> set[str] | None:
    if not isinstance(symbols, list) or len(symbols) > MAX_SYMBOLS:
        return None
    cleaned = {str(s).upper() for s in symbols}
    return cleaned if all(SYMBOL_PATTERN.match(s) for s in cleaned) else None


class EventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups_joined = [user_group(user.pk)]
        session = self.scope.get("session")
        if session is not None and session.session_key:  # so a logout closes this socket
            self.groups_joined.append(session_group(session.session_key))
        if user.is_staff:  # staff also see every trader's risk alerts
            self.groups_joined.append(staff_group())
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        groups = [*getattr(self, "groups_joined", []), *getattr(self, "symbol_groups", [])]
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        if kind == "ping":  # lets a client check the connection end to end
            await self.send_json({"type": "pong"})
        elif kind == "subscribe":
            await self.subscribe_symbols(content.get("symbols"))

    async def subscribe_symbols(self, symbols) -> None:
        """Join the public price groups of the symbols a page shows (replacing earlier ones)."""
        wanted = _valid_symbols(symbols)
        if wanted is None:
            await self.send_json({"type": "error", "data": {
                "message": f"subscribe takes a list of up to {MAX_SYMBOLS} symbols"}})
            return
        current = set(getattr(self, "symbol_groups", set()))
        target = {symbol_group(s) for s in wanted}
        for group in current - target:
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in target - current:
            await self.channel_layer.group_add(group, self.channel_name)
        self.symbol_groups = target
        await self.send_json({"type": "subscribed", "data": {"symbols": sorted(wanted)}})

    async def account_close(self, message):
        """Logged out, password changed or account disabled: this socket ends now."""
        await self.close(code=4401)

    async def event_forward(self, message):
        """Forward an event produced by `events.send_to_user` unchanged to the browser."""
        await self.send_json(message["event"])
