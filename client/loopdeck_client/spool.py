"""The background sender: `log_*` hands rows to a queue in memory (microseconds, never blocks); a
thread writes them to a disk spool every `flush_interval` seconds (or at `batch_size` rows), then sends
the spool's files in order, oldest first, deleting each once Loopdeck has accepted it.

While Loopdeck is down, files accumulate (up to `max_spool_bytes`) and are retried with backoff;
they survive a restart of the serving process (a new sender sends what an earlier one left). Each
file keeps its idempotency key, so a file sent twice (accepted, then the process died before deleting
it) is not imported twice. A batch Loopdeck rejects for its data (a 4xx other than 429) cannot succeed
by retrying: it is moved to `rejected/` with the answer beside it, and sending goes on.
What a hard crash can lose: the rows of the last `flush_interval` not yet written to the spool.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from loopdeck_client.transport import LoopdeckError, Transport, chunks, plain_rows

logger = logging.getLogger("loopdeck_client")


class Spool:
    def __init__(self, transport: Transport, folder: str | os.PathLike, batch_size: int, flush_interval: float,
                 max_spool_bytes: int):  # fmt: skip
        self.transport = transport
        self.folder = Path(folder)
        (self.folder / "rejected").mkdir(parents=True, exist_ok=True)
        self.batch_size, self.flush_interval, self.max_spool_bytes = batch_size, flush_interval, max_spool_bytes
        self.queue: deque[tuple[str, Any]] = deque()
        self.queued_rows = 0
        self.dropped_rows = 0  # rows refused because the spool was full
        self.wake = threading.Event()
        self.idle = threading.Event()
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._run, name="loopdeck-sender", daemon=True)
        self.thread.start()

    # --- the caller's side: O(1), no I/O ---------------------------------------------------------

    def put(self, kind: str, rows: Any) -> None:
        n = len(rows) if hasattr(rows, "__len__") else 1
        self.queue.append((kind, rows))
        self.queued_rows += n
        self.idle.clear()
        if self.queued_rows >= self.batch_size:
            self.wake.set()

    # --- the sender thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self.wake.wait(self.flush_interval)
            self.wake.clear()
            try:
                self._write_queue()
                sent_all = self._send_files()
            except Exception:  # never let the thread die: log, back off, go on
                logger.exception("loopdeck sender")
                sent_all = False
            if sent_all and not self.queue:
                self.idle.set()
            if self.closing.is_set() and (sent_all or self.transport.stop.is_set()) and not self.queue:
                return
            if not sent_all:
                self.transport.stop.wait(min(self.transport.max_backoff, max(self.flush_interval, 1.0)))

    def _write_queue(self) -> None:
        by_kind: dict[str, list[dict[str, Any]]] = {}
        order: list[str] = []
        while self.queue:
            kind, rows = self.queue.popleft()
            records = plain_rows(rows)
            self.queued_rows -= len(records)
            if kind not in by_kind:
                by_kind[kind] = []
                order.append(kind)
            by_kind[kind].extend(records)
        for kind in order:  # kinds in the order first logged: predictions before their outcomes
            for batch in chunks(by_kind[kind], self.batch_size):
                self._write_file(kind, batch)

    def spooled_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob("*.json"))

    def _write_file(self, kind: str, rows: list[dict[str, Any]]) -> None:
        data = json.dumps({"kind": kind, "key": uuid.uuid4().hex, "rows": rows}, separators=(",", ":")).encode()
        if self.spooled_bytes() + len(data) > self.max_spool_bytes:
            self.dropped_rows += len(rows)
            logger.error("loopdeck spool full (%s bytes): %d %s rows dropped", self.max_spool_bytes, len(rows), kind)
            return
        name = f"{time.time_ns():020d}-{kind}.json"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.folder / name)

    def pending_files(self) -> list[Path]:
        return sorted(self.folder.glob("*.json"))

    def _send_files(self) -> bool:
        """Send spooled files oldest first; False when Loopdeck could not be reached (try again later)."""
        for path in self.pending_files():
            item = json.loads(path.read_bytes())
            try:
                self.transport.post_rows(item["kind"], item["rows"], item["key"], retries=2)
            except LoopdeckError as exc:
                if exc.status is None:  # unreachable, 5xx or 429 after retries: keep it, retry later
                    return False
                (self.folder / "rejected" / path.name).write_text(json.dumps(exc.body, indent=1))
                os.replace(path, self.folder / "rejected" / f"{path.stem}.rows.json")
                logger.error("loopdeck rejected %s: %s", path.name, exc)
                continue
            path.unlink(missing_ok=True)
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is accepted (True) or `timeout` passes (False)."""
        self.idle.clear()
        self.wake.set()
        return self.idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.closing.set()
        self.wake.set()
        self.thread.join(timeout)
