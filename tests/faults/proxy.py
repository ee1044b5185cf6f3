"""A loopback TCP proxy that can cut connections: the fault in front of PostgreSQL or Redis.

The real services on this machine are shared with other test runs, so they are never stopped:
the service under test talks to them through this proxy, and a test "takes the database down"
by cutting every open connection and refusing new ones, then "brings it back" by accepting again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


def reserve(port: int = 0) -> socket.socket:
    """A socket bound to 127.0.0.1:`port` (0: any free one) that does not listen: no other process or
    test worker can take the port, and every connection to it is refused (on Linux), until it is
    closed or handed to `FaultProxy.start(sock=...)`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the TIME_WAITs of a closed listener
        sock.bind(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


class FaultProxy:
    """Forwards 127.0.0.1:<port> to `target`; `cut()` drops and refuses, `restore()` forwards again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.up = True
        self.accepted = 0
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def start(self, sock: socket.socket | None = None) -> "FaultProxy":
        """Listen on any free port, or on `sock`, a `reserve()`d socket (e.g. the one
        `close(keep_port=True)` returned): its port is never free in between."""
        if sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=sock)
        else:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        """Every open connection is reset, and new ones are closed as soon as they arrive."""
        self.up = False
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    def restore(self) -> None:
        self.up = True

    async def close(self, keep_port: bool = False) -> socket.socket | None:
        """Stop listening; with `keep_port`, return the port `reserve()`d the moment the listener is
        closed (connections refused, the port still ours), for `start(sock=...)` or to be closed."""
        self.cut()
        reserved = None
        if self._server is not None:
            self._server.close()  # the listening socket is closed here, synchronously
            if keep_port:
                reserved = reserve(self.port)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        return reserved

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()  # as a host whose service is down: the connection is reset at once
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._pipes.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True)
        self._pipes.difference_update((writer, up_writer))

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort() if not self.up else sink.close()
