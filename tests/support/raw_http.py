"""A small HTTP/1.1 client over asyncio streams, for what an ordinary client refuses to send: raw bytes in
header values and cookies (0x00–0xFF), over-long headers, bodies that are not what they claim. One
request per connection (`Connection: close`); the answer is read to the end."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

Header = tuple[bytes | str, bytes | str]


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def is_json(self) -> bool:
        if self.content_type != "application/json":
            return False
        try:
            json.loads(self.body)
        except ValueError:
            return False
        return True


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def build_request(method: str, target: bytes | str, headers: list[Header] = (),  # type: ignore[assignment]
                  body: bytes = b"", *, host: str = "127.0.0.1") -> bytes:
    """The request's bytes, exactly: the headers as given (names and values unchecked), plus Host,
    Content-Length (when not given) and Connection: close."""
    names = {_bytes(name).lower() for name, _ in headers}
    lines = [_bytes(method) + b" " + _bytes(target) + b" HTTP/1.1"]
    if b"host" not in names:
        lines.append(b"Host: " + host.encode())
    lines.extend(_bytes(name) + b": " + _bytes(value) for name, value in headers)
    if b"content-length" not in names and b"transfer-encoding" not in names and (body or method in (
            "POST", "PUT", "PATCH")):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def raw_request(port: int, method: str, target: bytes | str, headers: list[Header] = (),  # type: ignore[assignment]
                      body: bytes = b"", *, host: str = "127.0.0.1", timeout: float = 30.0) -> RawResponse:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(build_request(method, target, list(headers), body, host=host))
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
    return parse_response(data)


def parse_response(data: bytes) -> RawResponse:
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP response: {data[:80]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        rest = _unchunk(rest)
    elif "content-length" in headers:
        rest = rest[: int(headers["content-length"])]
    return RawResponse(int(parts[1]), headers, rest)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)
