"""A loopback webhook receiver for the run-failure sensor tests."""

from __future__ import annotations

from tests.support.servers import PostRecorder

SECRET = "s3cr3t-t0ken"


class Receiver(PostRecorder):
    """A loopback webhook endpoint recording every POST; ``delay``/``status`` script its answer."""

    def __init__(self, status: int = 204, delay: float = 0.0):
        super().__init__(status, delay)
        # The token sits in the path and the query, as with Slack/Teams-style webhooks.
        self.url = f"{self.url}/hooks/{SECRET}?key={SECRET}"

    @property
    def posts(self) -> list[dict]:
        return [{"path": post.path, "json": post.json} for post in self.recorded()]
