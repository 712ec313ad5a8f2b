"""Health probes and port checks, standard library only (the stack runs before any service)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

LOCALHOST = "127.0.0.1"


def port_in_use(port: int, host: str = LOCALHOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """Status and body of a GET; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def http_ok(url: str) -> bool:
    status, _ = http_get(url)
    return status == 200


def http_json(url: str) -> Any | None:
    status, body = http_get(url)
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
