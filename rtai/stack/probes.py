"""Health probes and port checks."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

from rtai.security.tls import Tls

LOCALHOST = "127.0.0.1"


def port_in_use(port: int, host: str = LOCALHOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_get(url: str, timeout_s: float = 2.0, tls: Tls | None = None) -> tuple[int, bytes]:
    """Status and body of a GET; status 0 when nothing answered."""
    request = urllib.request.Request(url, headers=tls.headers if tls else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=tls.context() if tls else None) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def http_ok(url: str, tls: Tls | None = None) -> bool:
    status, _ = http_get(url, tls=tls)
    return status == 200


def http_json(url: str, tls: Tls | None = None) -> Any | None:
    status, body = http_get(url, tls=tls)
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def redis_ping(port: int, auth: tuple[str, str] | None = None) -> bool:
    """PING answered; with `auth` (user, password) as that user. (redis-py imported here: the
    CLI's parser imports this module on the bare system Python, before `rtai setup`.)"""
    import redis

    user, password = auth or (None, None)
    client = redis.Redis(LOCALHOST, port, username=user, password=password, socket_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
