"""``heron server``: the Prometheus-compatible server, with Prometheus's flag names."""

from __future__ import annotations

import argparse


def _duration(s: str) -> int:
    from scraper.config import parse_duration

    try:
        return parse_duration(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _size(s: str) -> int:
    from scraper.config import parse_size

    try:
        return parse_size(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``heron server`` to the ``heron`` command's subparsers."""
    p = sub.add_parser(
        "server",
        help="run the Prometheus-compatible server (HTTP API, remote write/read, federation)",
        description="Run the Prometheus-compatible server. Flags are Prometheus's.",
    )
    a = p.add_argument
    a(
        "--config.file",
        dest="config_file",
        default="prometheus.yml",
        help="Prometheus configuration file path",
    )
    a("--storage.tsdb.path", dest="storage_path", default="data/", help="base path for metrics storage")
    a("--web.listen-address", dest="listen_address", default="0.0.0.0:9090", help="address to listen on")
    a(
        "--web.enable-remote-write-receiver",
        dest="enable_remote_write_receiver",
        action="store_true",
        help="accept remote write requests on /api/v1/write",
    )
    a(
        "--web.enable-admin-api",
        dest="enable_admin_api",
        action="store_true",
        help="enable the admin API endpoints",
    )
    a(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="enable /-/reload and /-/quit",
    )
    a("--web.external-url", dest="external_url", default="", help="URL under which the server is reachable")
    a(
        "--web.route-prefix",
        dest="route_prefix",
        default="",
        help="prefix for the web endpoints (default: external URL path)",
    )
    a(
        "--web.config.file",
        dest="web_config_file",
        default="",
        help="web configuration file (TLS, basic auth)",
    )
    a(
        "--storage.tsdb.retention.time",
        dest="retention_time",
        type=_duration,
        default=0,
        help="how long to retain samples (default 15d unless a size is set)",
    )
    a(
        "--storage.tsdb.retention.size",
        dest="retention_size",
        type=_size,
        default=0,
        help="maximum bytes of storage blocks (e.g. 512MB)",
    )
    a(
        "--storage.tsdb.min-block-duration",
        dest="min_block_duration",
        type=_duration,
        default=2 * 3600 * 1000,
        help=argparse.SUPPRESS,
    )
    a(
        "--storage.tsdb.max-block-duration",
        dest="max_block_duration",
        type=_duration,
        default=0,
        help=argparse.SUPPRESS,
    )
    a("--storage.tsdb.no-lockfile", dest="no_lockfile", action="store_true", help="do not create a lockfile")
    a(
        "--query.lookback-delta",
        dest="lookback_delta",
        type=_duration,
        default=300_000,
        help="how far back to look for a sample of an instant vector (default 5m)",
    )
    a(
        "--query.timeout",
        dest="query_timeout",
        type=_duration,
        default=120_000,
        help="maximum time a query may take",
    )
    a(
        "--query.max-samples",
        dest="query_max_samples",
        type=int,
        default=50_000_000,
        help="maximum samples a query may load",
    )
    a(
        "--query.max-concurrency",
        dest="query_max_concurrency",
        type=int,
        default=20,
        help="maximum queries executed concurrently",
    )
    a(
        "--storage.remote.read-sample-limit",
        dest="remote_read_sample_limit",
        type=int,
        default=50_000_000,
        help="maximum samples returned by one remote read query (0 = no limit)",
    )
    a(
        "--storage.remote.flush-deadline",
        dest="remote_flush_deadline",
        type=_duration,
        default=60_000,
        help="how long to wait flushing remote-write queues on shutdown (default 1m)",
    )
    a("--log.level", dest="log_level", default="info", choices=["debug", "info", "warn", "error"])
    a("--log.format", dest="log_format", default="logfmt", choices=["logfmt", "json"])
    p.set_defaults(func=cmd_server)


def flags_from_args(args: argparse.Namespace):  # noqa: ANN201 - server.app.ServerFlags
    """The server's flags from parsed arguments."""
    from server.app import ServerFlags

    return ServerFlags(
        config_file=args.config_file,
        storage_path=args.storage_path,
        listen_address=args.listen_address,
        enable_remote_write_receiver=args.enable_remote_write_receiver,
        enable_admin_api=args.enable_admin_api,
        enable_lifecycle=args.enable_lifecycle,
        retention_time_ms=args.retention_time,
        retention_size_bytes=args.retention_size,
        lookback_delta_ms=args.lookback_delta,
        query_timeout_ms=args.query_timeout,
        query_max_samples=args.query_max_samples,
        query_max_concurrency=args.query_max_concurrency,
        external_url=args.external_url,
        route_prefix=args.route_prefix,
        web_config_file=args.web_config_file,
        remote_read_sample_limit=args.remote_read_sample_limit,
        remote_flush_deadline_ms=args.remote_flush_deadline,
        min_block_duration_ms=args.min_block_duration,
        max_block_duration_ms=args.max_block_duration,
        no_lockfile=args.no_lockfile,
        log_level=args.log_level,
        log_format=args.log_format,
    )


def cmd_server(args: argparse.Namespace) -> int:
    """Run ``heron server`` until stopped."""
    from server.main import run

    return run(flags_from_args(args))


if __name__ == "__main__":  # ``python -m heron.server_cli …`` until heron/cli.py wires it in
    import sys

    parser = argparse.ArgumentParser(prog="heron")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(["server", *sys.argv[1:]])
    sys.exit(ns.func(ns))
