"""The local stack's one model of where things are: the state directory's layout, and the
default ports and URLs on 127.0.0.1. Everything that reads or writes local state asks here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
API_PORT = 3000
AWS_PORT = 4566
DEFAULT_STATE_DIR = ".nrt"
API_URL = f"http://{HOST}:{API_PORT}"


def aws_url(port: int = AWS_PORT) -> str:
    return f"http://{HOST}:{port}"


@dataclass(frozen=True)
class StateDir:
    """The layout of `<state-dir>` (git-ignored): models, lake, checkpoints, logs, key, page."""

    root: Path = Path(DEFAULT_STATE_DIR)

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model(self, name: str) -> Path:
        return self.models / name

    @property
    def stream_checkpoint(self) -> Path:
        return self.root / "checkpoints" / "stream.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def api_key(self) -> Path:
        return self.root / "api-key"

    @property
    def dashboard(self) -> Path:
        return self.root / "dashboard.html"
