"""A scripted upstream on loopback (plain or TLS) that writes exactly the bytes a test gives it:
for odd framings, failures and answers nobody asked for."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

# (request head, connection number, request number on it) -> (bytes to send, close after?)
# Sending None closes the connection without an answer.
Script = Callable[[bytes, int, int], tuple[bytes | None, bool]]


@dataclass
class RawUpstream:
    script: Script
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)  # each request's body, de-chunked
    connections: int = 0
    gate: asyncio.Event | None = None  # when set: answers wait for it
    # Sent on the connection a moment after each answer, while the client holds it idle.
    idle_stray: bytes | None = None
    read_bodies: bool = True  # False: answer at once, leaving any body unread
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # a request head came
    closed_by_peer: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    tls: ssl.SSLContext | None = None  # what a client needs to trust this server

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        try:
            for count in range(1000):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    if self.read_bodies:
                        self.bodies.append(await read_body(reader, head))
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_peer.set()
                    return
                self.heads.append(head)
                self.arrived.set()
                answer, close = self.script(head, number, count)
                if answer is None:
                    return
                if self.gate is not None:
                    await self.gate.wait()
                writer.write(answer)
                await writer.drain()
                if close:
                    return
                if self.idle_stray is not None:
                    await asyncio.sleep(0.05)
                    writer.write(self.idle_stray)
        finally:
            writer.close()


async def read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    if b"content-length" in fields:
        return await reader.readexactly(int(fields[b"content-length"]))
    if fields.get(b"transfer-encoding", b"").lower() != b"chunked":
        return b""
    body = bytearray()
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")  # no trailers: the blank line
    return bytes(body)


@dataclass(frozen=True)
class Endpoint:
    port: int
    tls: ssl.SSLContext | None


def answer(text: str, *, close: bool = False) -> Script:
    raw = text.replace("\n", "\r\n").encode("latin-1")
    return lambda _head, _conn, _n: (raw, close)
