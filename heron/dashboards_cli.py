"""``heron dashboards``: the Grafana-like dashboards app, served by waitress."""

from __future__ import annotations

import argparse
import sys


def _listen(s: str) -> tuple[str, int]:
    host, sep, port = s.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", s
    try:
        p = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid listen address {s!r}: want HOST:PORT") from None
    if not 0 <= p <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port in {s!r}")
    return host.strip("[]") or "0.0.0.0", p


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``heron dashboards`` to the ``heron`` command's subparsers."""
    p = sub.add_parser(
        "dashboards",
        help="serve the dashboards (Grafana-style) over any Prometheus-compatible API",
        description=(
            "Serve dashboards (Grafana dashboard JSON), Explore, alerts and targets pages. "
            "Data comes only from the Prometheus HTTP API at --prometheus-url."
        ),
    )
    a = p.add_argument
    a(
        "--prometheus-url",
        default="http://127.0.0.1:9090",
        help="Prometheus-compatible API base URL (default: %(default)s)",
    )
    a(
        "--alertmanager-url",
        default="http://127.0.0.1:9093",
        help="Alertmanager API base URL (default: %(default)s)",
    )
    a(
        "--dashboards",
        action="append",
        metavar="DIR",
        help="folder of Grafana dashboard JSON files (repeatable; default: the shipped dashboards)",
    )
    a(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 3000),
        metavar="HOST:PORT",
        help="address to serve on (default: 127.0.0.1:3000)",
    )
    a(
        "--scrape-interval",
        default="15s",
        help="the data source scrape interval used for $__rate_interval (default: %(default)s)",
    )
    a("--threads", type=int, default=8, help="HTTP worker threads (default: %(default)s)")
    p.set_defaults(func=cmd_dashboards)


def cmd_dashboards(args: argparse.Namespace) -> int:
    """Run ``heron dashboards`` until interrupted."""
    from dashboards.app import Config, serve
    from dashboards.provisioning import SHIPPED_DIR
    from dashboards.timeutil import parse_interval_ms

    try:
        parse_interval_ms(args.scrape_interval)
    except ValueError as e:
        print(f"heron dashboards: --scrape-interval: {e}", file=sys.stderr)
        return 2
    host, port = args.listen
    config = Config(
        prometheus_url=args.prometheus_url,
        alertmanager_url=args.alertmanager_url,
        dashboards=args.dashboards or [str(SHIPPED_DIR)],
        scrape_interval=args.scrape_interval,
    )
    print(
        f"heron dashboards: http://{host}:{port}/dashboards (data: {args.prometheus_url})",
        file=sys.stderr,
        flush=True,
    )
    serve(config, host=host, port=port, threads=args.threads)
    return 0


if __name__ == "__main__":  # ``python -m heron.dashboards_cli …`` until heron/cli.py wires it in
    parser = argparse.ArgumentParser(prog="heron")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(["dashboards", *sys.argv[1:]])
    sys.exit(ns.func(ns))
