"""The bench's latency relay adds its round trip and passes bytes and end of stream unchanged."""

from __future__ import annotations

import socket
import threading
import time

from sandbox.bench.latency import Relays


def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_a_round_trip_through_the_relay_takes_the_added_time_and_keeps_the_bytes():
    srv, port = _echo_server()
    relays = Relays(rtt_ms=100)
    try:
        local = relays.add("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", local), timeout=5) as conn:
            payload = bytes(range(256)) * 1000
            started = time.monotonic()
            conn.sendall(payload)
            got = b""
            while len(got) < len(payload):
                got += conn.recv(65536)
            took = time.monotonic() - started
            assert got == payload
            assert 0.1 <= took < 2.0, took
            conn.shutdown(socket.SHUT_WR)
            assert conn.recv(10) == b""  # the end of stream came through
    finally:
        relays.close()
        srv.close()
