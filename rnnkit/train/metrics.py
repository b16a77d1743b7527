"""Metrics as JSON lines, and the loss-curve plot drawn from them."""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.files import atomic_write_bytes


class MetricsLog:
    """Append-only ``metrics.jsonl``; each record is one JSON object with a ``step`` key."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        if resume_step is not None and path.exists():
            # Records past the checkpoint we resume from describe steps that will be redone.
            kept = [r for r in self.read() if r.get("step", 0) <= resume_step]
            atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def write(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
        return out
