"""``heron tsdb …`` subcommands: import, dump, analyze."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = sub.add_parser("tsdb", help="inspect and build TSDB blocks")
    t.add_subparsers(dest="tsdb_command", required=True, metavar="SUBCOMMAND")
