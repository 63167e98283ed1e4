"""The ``heron`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _cmd_up(args: argparse.Namespace) -> int:
    print(
        "heron up: the embedded cluster and the monitoring stack are not built yet.\n"
        "Available today: `heron tsdb import|dump|analyze`.",
        file=sys.stderr,
    )
    return 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="heron", description="Heron: a Prometheus-compatible observability stack."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="start the cluster and the monitoring stack (not built yet)")
    up.set_defaults(func=_cmd_up)
    from . import alertmanager_cli, promql_cli, server_cli, tsdb_cli

    server_cli.register(sub)
    alertmanager_cli.register(sub)
    promql_cli.register(sub)
    tsdb_cli.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Handler = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
