"""The WebSocket `/ws/progress/`: progress frames (progress.consumers) and the live node pages (nodes.live)."""

from progress.consumers import ProgressConsumer

from . import live


class ConsoleConsumer(ProgressConsumer):
    """ProgressConsumer, plus `nodes.*` frames: a node page follows its cluster's shared watch."""

    async def connect(self):
        self.node_subscriptions = {}
        await super().connect()

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and str(content.get("type", "")).startswith("nodes."):
            await live.handle(self, content)
            return
        await super().receive_json(content, **kwargs)

    async def disconnect(self, code):
        live.drop_all(self)
        await super().disconnect(code)
