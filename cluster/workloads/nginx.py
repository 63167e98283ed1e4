"""A stand-in for the ``nginx`` image: serves the familiar welcome page.

``python -m cluster.workloads.nginx --bind IP --port 80``; the kubelet runs it for
containers with image ``nginx`` (or ``heron/nginx``) and no command.
"""

from __future__ import annotations

import argparse
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. (Served by Heron's stand-in.)</p>
</body>
</html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "nginx/1.14.2"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()

    def log_message(self, fmt: str, *args: object) -> None:
        msg = fmt % args
        sys.stdout.write(f'{self.client_address[0]} - - [{self.log_date_time_string()}] "{msg}"\n')
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nginx")
    p.add_argument("--bind", default=os.environ.get("POD_IP", "127.0.0.1"))
    p.add_argument("--port", type=int, default=80)
    a = p.parse_args(argv)
    srv = ThreadingHTTPServer((a.bind, a.port), Handler)
    print(f"nginx stand-in listening on {a.bind}:{a.port}", flush=True)
    import signal

    def _term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
