"""`nrt query` and `nrt dashboard`: the local lake, as Athena and QuickSight read it on AWS."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nrt.cli.common import lake_of, state_dir_flag
from nrt.lake.athena import FORMATS
from nrt.lake.dashboard import write_dashboard
from nrt.statedir import (
    StateDir,
)


def cmd_query(args: argparse.Namespace) -> int:
    from nrt.lake.athena import QueryError, run_query

    if (args.execute is None) == (not args.files):
        print("give either SQL files or -e SQL", file=sys.stderr)
        return 2
    for path in args.files:
        if not path.is_file():
            print(f"no such SQL file: {path}", file=sys.stderr)
            return 2
    try:
        print(run_query(lake_of(args), args.execute, args.files, args.format))
    except QueryError as error:
        print(f"query failed: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from nrt.lake.athena import QueryError

    try:
        page = write_dashboard(lake_of(args), Path(args.out) if args.out else StateDir(Path(args.state_dir)).dashboard)
    except QueryError as error:
        print(f"dashboard failed: {error}", file=sys.stderr)
        return 1
    print(f"wrote {page}")
    return 0


def add_commands(sub: Any) -> None:
    """query, dashboard"""
    query = sub.add_parser("query", help="run Athena SQL (files or -e) over the local lake")
    query.add_argument("files", nargs="*", type=Path, metavar="FILE.sql")
    query.add_argument("-e", "--execute", metavar="SQL", help="one SQL statement instead of files")
    query.add_argument("--format", choices=FORMATS, default="table")
    state_dir_flag(query, "whose lake: ")
    query.add_argument("--lake", help="the lake folder (default: <state-dir>/lake)")
    query.set_defaults(func=cmd_query)

    dashboard = sub.add_parser("dashboard", help="write the dashboard page from the local lake")
    state_dir_flag(dashboard, "whose lake: ")
    dashboard.add_argument("--lake", help="the lake folder (default: <state-dir>/lake)")
    dashboard.add_argument("--out", help="the page (default: <state-dir>/dashboard.html)")
    dashboard.set_defaults(func=cmd_dashboard)
