"""``heron alertmanager``: a drop-in Alertmanager, with Alertmanager's flag names."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys


def _duration(s: str) -> float:
    from alertmanager.config import parse_duration

    try:
        return parse_duration(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``heron alertmanager`` to the ``heron`` command's subparsers."""
    p = sub.add_parser(
        "alertmanager",
        help="run the Alertmanager (routing, grouping, silences, webhooks, API v2)",
        description="Run the Alertmanager. Flags are Alertmanager's.",
    )
    a = p.add_argument
    a(
        "--config.file",
        dest="config_file",
        default="alertmanager.yml",
        help="Alertmanager configuration file name",
    )
    a("--storage.path", dest="storage_path", default="data/", help="base path for data storage")
    a(
        "--data.retention",
        dest="data_retention",
        type=_duration,
        default=120 * 3600.0,
        help="how long to keep data",
    )
    a(
        "--data.maintenance-interval",
        dest="maintenance_interval",
        type=_duration,
        default=15 * 60.0,
        help="interval between garbage collection and snapshotting to disk of silences and the notification logs",
    )
    a(
        "--alerts.gc-interval",
        dest="alerts_gc_interval",
        type=_duration,
        default=30 * 60.0,
        help="interval between alert GC",
    )
    a("--web.listen-address", dest="listen_address", default="0.0.0.0:9093", help="address to listen on")
    a(
        "--web.external-url",
        dest="external_url",
        default="",
        help="URL under which Alertmanager is externally reachable (used in notifications)",
    )
    a(
        "--web.route-prefix",
        dest="route_prefix",
        default="",
        help="prefix for the internal routes of web endpoints",
    )
    a(
        "--cluster.listen-address",
        dest="cluster_listen_address",
        default="0.0.0.0:9094",
        help="listen address for cluster; empty string disables HA mode",
    )
    a(
        "--cluster.advertise-address",
        dest="cluster_advertise_address",
        default="",
        help="explicit address to advertise",
    )
    a(
        "--cluster.peer",
        dest="cluster_peers",
        action="append",
        default=[],
        help="initial peers (repeat the flag)",
    )
    a(
        "--cluster.peer-timeout",
        dest="cluster_peer_timeout",
        type=_duration,
        default=15.0,
        help="time to wait between peers to send notifications",
    )
    a(
        "--cluster.gossip-interval",
        dest="cluster_gossip_interval",
        type=_duration,
        default=0.2,
        help="interval between sending gossip messages",
    )
    a(
        "--cluster.pushpull-interval",
        dest="cluster_pushpull_interval",
        type=_duration,
        default=60.0,
        help="interval for gossip state syncs",
    )
    a(
        "--cluster.settle-timeout",
        dest="cluster_settle_timeout",
        type=_duration,
        default=60.0,
        help="maximum time to wait for cluster connections to settle before evaluating notifications",
    )
    a(
        "--log.level",
        dest="log_level",
        default="info",
        choices=["debug", "info", "warn", "error"],
        help="log level",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from alertmanager.config import ConfigError
    from alertmanager.main import Alertmanager, Options

    level = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
    logging.basicConfig(
        level=level[args.log_level],
        format="ts=%(asctime)s level=%(levelname)s component=%(name)s msg=%(message)s",
    )
    opts = Options(
        config_file=args.config_file,
        storage_path=args.storage_path,
        listen_address=args.listen_address,
        external_url=args.external_url,
        route_prefix=args.route_prefix,
        data_retention=args.data_retention,
        maintenance_interval=args.maintenance_interval,
        alerts_gc_interval=args.alerts_gc_interval,
        cluster_listen_address=args.cluster_listen_address,
        cluster_advertise_address=args.cluster_advertise_address,
        cluster_peers=[p for p in args.cluster_peers if p],
        cluster_peer_timeout=args.cluster_peer_timeout,
        cluster_gossip_interval=args.cluster_gossip_interval,
        cluster_pushpull_interval=args.cluster_pushpull_interval,
        cluster_settle_timeout=args.cluster_settle_timeout,
    )

    async def main() -> int:
        try:
            am = Alertmanager(opts)
        except ConfigError as e:
            print(f"heron alertmanager: loading configuration file failed: {e}", file=sys.stderr)
            return 1
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, am.stop)
        await am.run()
        return 0

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    """Run ``heron alertmanager`` stand-alone (``python -m heron.alertmanager_cli``)."""
    parser = argparse.ArgumentParser(prog="heron")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["alertmanager", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
