"""An in-memory channel layer that threads of one process can share.

In the embedded profile the ASGI server's event loop holds the WebSocket consumers while Celery
worker threads (each with its own loop under async_to_sync) push events to them. Channels'
InMemoryChannelLayer assumes one loop: a message put on a queue from another thread does not wake
the consumer waiting on it. Here a send to a channel that is being received on another loop is
handed to that loop, so the wake-up happens where the waiter lives.
"""

import asyncio
import contextlib

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

HANDOVER_TIMEOUT = 5.0


class ThreadSafeInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._receiver_loops: dict[str, asyncio.AbstractEventLoop] = {}

    async def receive(self, channel):
        self._receiver_loops[channel] = asyncio.get_running_loop()
        return await super().receive(channel)

    async def send(self, channel, message):
        loop = self._receiver_loops.get(channel)
        if loop is None or not loop.is_running() or loop is asyncio.get_running_loop():
            # No waiter on another running loop: a plain put is safe and nothing needs waking.
            return await super().send(channel, message)
        parent_send = super().send
        future = asyncio.run_coroutine_threadsafe(parent_send(channel, message), loop)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), HANDOVER_TIMEOUT)
        except TimeoutError:
            # The receiving loop stopped between our check and the hand-over: nobody is
            # listening any more, so the message is dropped, as a closed socket's would be.
            future.cancel()

    async def group_send(self, group, message):
        self.require_valid_group_name(group)
        self._clean_expired()
        # A snapshot: other threads may join or leave the group while we iterate.
        for channel in list(self.groups.get(group, {})):
            with contextlib.suppress(ChannelFull):  # a full channel is a slow client: drop
                await self.send(channel, message)

    async def group_discard(self, group, channel):
        await super().group_discard(group, channel)
        if not any(channel in members for members in list(self.groups.values())):
            self._receiver_loops.pop(channel, None)

    async def flush(self):
        await super().flush()
        self._receiver_loops = {}
