"""TCP relays that hold every chunk for half a round trip in each direction: sandbox hosts seen
from the controller as if they were that far away. The kernel here has no `netem` qdisc
("Specified qdisc kind is unknown"), so the delay is added in user space.

    python3 -m sandbox.bench.latency --rtt-ms 50 127.0.0.1:20022=169.254.200.11:22 ...

prints one `listening LOCAL -> TARGET` line per relay, then relays until killed. In a Python
process: ``relays = Relays(rtt_ms=50); port = relays.add("169.254.200.11", 22)``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading

CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float):
    """Copy reader to writer, each chunk delivered ``delay`` seconds after it was read; order
    kept, end of stream passed on."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    async def pump():
        while True:
            try:
                data = await reader.read(CHUNK)
            except ConnectionError:
                data = b""
            await queue.put((loop.time() + delay, data))
            if not data:
                return

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # the simulated distance, not a wait on a state
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            try:
                await writer.drain()
            except ConnectionError:
                return

    await asyncio.gather(pump(), deliver())


class Relays:
    """Relays on 127.0.0.1 in a background thread (an event loop of their own)."""

    def __init__(self, rtt_ms: float):
        self.delay = rtt_ms / 2000.0
        self.loop = asyncio.new_event_loop()
        self.servers: list[asyncio.AbstractServer] = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def add(self, host: str, port: int, listen_port: int = 0) -> int:
        """Relay 127.0.0.1:<returned port> to host:port."""

        async def handle(reader, writer):
            try:
                up_reader, up_writer = await asyncio.open_connection(host, port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, up_writer, self.delay),
                                 _pipe(up_reader, writer, self.delay))
            for w in (writer, up_writer):
                w.close()

        async def start():
            server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
            self.servers.append(server)
            return server.sockets[0].getsockname()[1]

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=10)

    def close(self) -> None:
        async def stop():
            for server in self.servers:
                server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sandbox.bench.latency", description=__doc__.split("\n")[0])
    ap.add_argument("--rtt-ms", type=float, required=True, help="added round trip, ms")
    ap.add_argument("relay", nargs="+", help="LISTEN_HOST:PORT=TARGET_HOST:PORT")
    args = ap.parse_args(argv)
    relays = Relays(args.rtt_ms)
    for spec in args.relay:
        listen, _, target = spec.partition("=")
        host, _, port = target.rpartition(":")
        local = relays.add(host, int(port), int(listen.rpartition(":")[2]))
        print(f"listening 127.0.0.1:{local} -> {target}", flush=True)
    try:
        relays.thread.join()
    except KeyboardInterrupt:
        relays.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
