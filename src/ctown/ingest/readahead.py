"""Read-ahead (预读): the next feed files are read and validated in a thread while the current
one is written to the database.

A county load alternates between work that needs no database — decoding the file, parsing dates
and identifiers, checking every column (:func:`ctown.ingest.pipeline.prepare`) — and work that
waits on it: PostgreSQL builds its indexes in another process, SQLite releases the interpreter
while it steps through its B-trees. Doing the first for file N+1 during the second for file N
keeps both cores busy. The thread only reads (the file, and whether its batch is already done);
everything that writes stays in the load's own transaction, so crash safety is unchanged.

Memory stays bounded: at most ``DEPTH`` prepared chunks wait in the queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ctown.catalogue.service import load_catalogue
from ctown.ingest.mapping import DepartmentMapping, load_mappings
from ctown.ingest.models import Batch
from ctown.ingest.pipeline import Prepared, prepare
from ctown.ingest.readers import FileInfo, describe, iter_chunks
from ctown.ingest.validate import Context
from ctown.registry.models import Region

DEPTH = 4  # prepared chunks waiting; each is at most CHUNK_ROWS rows
BUFFER = 3  # a file of up to this many chunks is read whole before it is handed over


@dataclass
class Feed:
    """One file as the read-ahead hands it over: its description, then its prepared chunks.

    ``streamed`` False: the file was read to its end before being handed over, so it can no
    longer fail to read once its rows are written (it may share a transaction with others);
    True: a long file, handed over chunk by chunk, loaded in a transaction of its own."""

    info: FileInfo
    done: bool  # its batch is already loaded: nothing was read
    streamed: bool
    chunks: Iterator[Prepared]


class ReadAhead:
    """Prepares the given ``(path, department)`` files in order, in a daemon thread."""

    def __init__(self, factory: sessionmaker[Session], files: list[tuple[Any, str]]) -> None:
        self.factory, self.files = factory, files
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=DEPTH)
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ctown-readahead", daemon=True)
        self.thread.start()

    # -- consumer side ----------------------------------------------------------------------------
    def next_file(self) -> Feed:
        """The next file in order; raises what reading it raised (e.g. :class:`ReadError`)."""
        kind, value = self._get()
        if kind == "error":
            raise value
        info, done, streamed = value
        return Feed(info, done, streamed, self._chunks() if not done else iter(()))

    def _chunks(self) -> Iterator[Prepared]:
        while True:
            kind, value = self._get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def skip_rest(self, feed: Feed) -> None:
        """Drain what is left of a file the load gave up on, so the next file lines up."""
        for _ in feed.chunks:
            pass

    def close(self) -> None:
        self.stop.set()  # the producer looks at it at least every 0.1 s
        self.thread.join(timeout=5)

    def _get(self) -> tuple[str, Any]:
        while True:
            try:
                return self.queue.get(timeout=0.5)
            except queue.Empty:
                if not self.thread.is_alive() and self.queue.empty():
                    # The thread ended without handing the file over (it failed outside a
                    # file, e.g. the database went away): say so instead of waiting forever.
                    raise self.failure or RuntimeError("read-ahead stopped") from None

    # -- producer side ----------------------------------------------------------------------------
    def _put(self, kind: str, value: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            self._produce()
        except BaseException as exc:  # handed to the loading thread by _get
            self.failure = exc

    def _produce(self) -> None:
        mappings = load_mappings()
        catalogue = load_catalogue()
        contexts: dict[str, Context] = {}
        with self.factory() as session:
            villages = set(session.scalars(sa.select(Region.code).where(Region.level == "village")))
        for path, department in self.files:
            if self.stop.is_set():
                return
            mapping = mappings[department]
            ctx = contexts.get(department) or contexts.setdefault(
                department, Context(mapping, catalogue, villages))
            if not self._one(path, mapping, ctx):
                return

    def _one(self, path: Any, mapping: DepartmentMapping, ctx: Context) -> bool:
        try:
            info = describe(path)
            done = self._loaded(mapping.code, info.sha256)
        except Exception as exc:  # handed to the consumer, which records the file as failed
            return self._put("error", exc)
        if done:
            return self._put("file", (info, True, False))
        seq, held, streamed = 0, [], False
        try:
            for chunk in iter_chunks(info, set(ctx.lookup)):
                prepared = prepare(ctx, chunk, seq)
                if prepared is None:
                    continue
                seq = prepared.end
                held.append(prepared)
                if len(held) > BUFFER and not streamed:  # a long file: stream it
                    streamed = True
                    if not self._put("file", (info, False, True)):
                        return False
                if streamed and not self._hand_over(held):
                    return False
        except Exception as exc:  # before the header: the file failed as a whole
            return self._put("error", exc)
        if not streamed and not self._put("file", (info, False, False)):
            return False
        return self._hand_over(held) and self._put("end", None)

    def _hand_over(self, held: list[Prepared]) -> bool:
        while held:
            if not self._put("chunk", held.pop(0)):
                return False
        return True

    def _loaded(self, department: str, sha256: str) -> bool:
        with self.factory() as session:
            status = session.scalar(sa.select(Batch.status).where(
                Batch.department == department, Batch.external_id == sha256))
        return status == "done"

