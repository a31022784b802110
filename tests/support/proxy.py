"""`TcpProxy`: a loopback TCP forwarder a test can cut, hang and restore, to give a dependency either
failure shape without touching the real server.

- `cut()`: connections are refused and every open one dies (a dependency that is down or restarting).
- `hang()`: connections are accepted and every byte is swallowed, on open connections too, and nothing
  ever comes back (a dependency that accepts and never answers: a stuck server, a black-holed network).
- `restore()`: forward again. Connections that were hung are dropped, as a peer's timeout would.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from tests.support.servers import free_port


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`, in a background thread with its own event loop."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._hung = False
        self._held: set[asyncio.StreamWriter] = set()
        # Connections accepted and chunks swallowed while hung: what reached a dependency that never answers.
        self.swallowed = 0
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.restore()

    def _run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self._hung:
                    self.swallowed += 1
                    continue  # swallowed: the peer waits for an answer that never comes
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._held.add(writer)
        self.swallowed += 1
        try:
            while await reader.read(65536):
                self.swallowed += 1
        except (ConnectionError, OSError):
            pass
        finally:
            self._held.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._hung:
            await self._swallow(client_reader, client_writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers.update({client_writer, upstream_writer})
        try:
            await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))
        finally:
            self._writers.difference_update({client_writer, upstream_writer})

    async def _start(self) -> None:
        if self._hung:
            self._hung = False
            # A hung connection may hold half a request or a reply the client gave up on: drop it.
            for writer in list(self._writers | self._held):
                with contextlib.suppress(Exception):
                    writer.transport.abort()
            self._writers.clear()
            self._held.clear()
        await self._start_listening()

    async def _cut(self) -> None:
        self._hung = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers | self._held):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()
        self._held.clear()

    def cut(self) -> None:
        """Refuse new connections and kill the open ones."""
        self._run(self._cut())

    async def _hang(self) -> None:
        self._hung = True
        await self._start_listening()

    async def _start_listening(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    def hang(self) -> None:
        """Accept connections and swallow every byte, on open connections too: nothing answers."""
        self._run(self._hang())

    def restore(self) -> None:
        """Accept and forward connections again."""
        self._run(self._start())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
