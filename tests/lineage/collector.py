"""A lineage backend on 127.0.0.1: records what is POSTed to /api/v1/lineage, can be slow or fail."""

from __future__ import annotations

from tests.support.servers import PostRecorder


class LineageCollector(PostRecorder):
    """``status``/``delay`` script the answer; ``events``/``headers`` hold every request received."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        super().__init__(status, delay, path="/api/v1/lineage")

    @property
    def events(self) -> list[dict]:
        return [post.json for post in self.recorded()]

    @property
    def headers(self) -> list[dict[str, str]]:
        return [post.headers for post in self.recorded()]

    @property
    def raw_bodies(self) -> list[bytes]:
        return [post.body for post in self.recorded()]

    def of(self, event_type: str | None = None, job: str | None = None) -> list[dict]:
        return [e for e in self.events if event_type in (None, e["eventType"]) and job in (None, e["job"]["name"])]
