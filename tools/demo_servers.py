"""Two tiny HTTP servers for `make run`'s quick start: 127.0.0.1:PORT answers "hello from
demo server N" (N = 1, 2... in the order of the ports given). Standard library only; stops on
SIGINT/SIGTERM. Not part of haproxy-py: the quick start's backends, until `http-request
return` (the rules engine) lets the configuration answer by itself.
"""

from __future__ import annotations

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def handler_for(number: int) -> type[BaseHTTPRequestHandler]:
    body = f"hello from demo server {number}\n".encode()

    class Hello(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so that connection reuse shows

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: haproxy-py's output is what the quick start shows

    return Hello


def main(ports: list[int]) -> int:
    servers = [
        ThreadingHTTPServer(("127.0.0.1", port), handler_for(number))
        for number, port in enumerate(ports, 1)
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main([int(port) for port in sys.argv[1:]] or [8081, 8082]))
