"""A tiny client of the Chrome DevTools protocol over the standard library: one websocket
(RFC 6455, text frames only), commands and the events that come between their answers."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import urllib.parse
from typing import Any


class DevTools:
    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self._socket = socket.create_connection((parsed.hostname, parsed.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self._socket.sendall(
            (
                f"GET {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += self._socket.recv(1)
        assert answer.startswith(b"HTTP/1.1 101"), answer
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        self._socket.close()

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self._send(json.dumps({"id": ident, "method": method, "params": params}).encode())
        while True:
            message = self._receive()
            if message.get("id") == ident:
                assert "error" not in message, message
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def listen(self, seconds: float) -> None:
        """Gather the events of the next ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._socket.settimeout(left)
            try:
                self.events.append(self._receive())
            except TimeoutError:
                break
        self._socket.settimeout(30)

    def _send(self, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self._socket.sendall(header + mask + masked)

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self._socket.recv(count - len(data))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            data += chunk
        return data

    def _receive(self) -> dict[str, Any]:
        payload = b""
        while True:
            first, second = self._exactly(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._exactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._exactly(8))[0]
            payload += self._exactly(length)
            if first & 0x80:  # the last fragment
                found: dict[str, Any] = json.loads(payload)
                return found
