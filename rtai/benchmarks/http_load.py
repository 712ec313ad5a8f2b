"""Keep-alive HTTP/1.1 connections for an open-loop load generator: each request written whole
in one send, its answer read by its Content-Length, nothing else parsed.

The load generator shares the machine with what it measures, so its own cost is in every figure:
with httpx (a client per connection, to keep its pool from being scanned per request) it took
about 1 ms of CPU a request, half a core at 500 requests/s and the largest process in the run
(bench/README.md: the scoring API's load generator).
"""

from __future__ import annotations

import asyncio


class HttpError(Exception):
    """A connection that failed or an answer that was not HTTP/1.1 with a Content-Length."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """The status and the body of the answer to one whole request (head and body)."""
        try:
            self.writer.write(request)
            status_line = await self.reader.readline()
            parts = status_line.split(maxsplit=2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                raise HttpError(f"not an HTTP answer: {status_line[:80]!r}")
            length = None
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise HttpError("an answer without a Content-Length")
            return int(parts[1]), await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, ValueError) as err:
            raise HttpError(f"{type(err).__name__}: {err}") from err

    @property
    def closed_by_server(self) -> bool:
        """Whether the server has closed it (uvicorn closes a connection idle for 5 s)."""
        return self.reader.at_eof() or self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


def post_request(host: str, port: int, path: str, body: bytes) -> bytes:
    """A POST of a JSON body, whole, ready to send on a kept-alive connection."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
