"""`nrt outcomes upload FILE`: a CSV of outcomes sent to POST /outcomes in batches."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from nrt.cli.common import api_key_flags, post_json, saved_api_key
from nrt.statedir import StateDir, read_stack_record


def outcomes_url(args: argparse.Namespace) -> str:
    """--url, else the deployed --stack's ApiUrl (its key into $NRT_API_KEY), else the API the state
    dir's running `nrt up` records; the route appended."""
    if args.stack:
        from nrt.cli.stack import deployed_url

        if args.url:
            raise SystemExit("--stack and --url: give one (--stack reads the URL from the stack's ApiUrl output)")
        base = deployed_url(args.stack, args.region, ["--api-key"] if args.api_key else [])
    elif args.url:
        base = str(args.url)
    else:
        record = read_stack_record(StateDir(Path(args.state_dir)))
        if record is None:
            raise SystemExit(f"no running stack recorded in {args.state_dir}: start `nrt up`, or give --url or --stack")
        base = record.api_url
    return f"{base.rstrip('/')}/outcomes"


def cmd_outcomes(args: argparse.Namespace) -> int:
    from nrt.ops.outcomes import UploadError, upload

    url = outcomes_url(args)
    key = args.api_key or os.environ.get("NRT_API_KEY") or (None if args.stack else saved_api_key(args))

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        try:
            return post_json(url, body, key)
        except (urllib.error.URLError, OSError) as error:  # refused, reset, timed out: no HTTP answer
            return 0, f"no answer ({getattr(error, 'reason', error)})"

    print(f"uploading {args.file} to {url} in batches of {args.batch} ...")
    try:
        summary = upload(Path(args.file), post, log=print, size=args.batch)
    except (UploadError, OSError, UnicodeDecodeError) as error:
        print(f"cannot upload {args.file}: {error}", file=sys.stderr)
        return 2
    for refused in summary.refused:
        print(f"  line {refused.line}: {refused.reason}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.refused else 0


def add_commands(sub: Any) -> None:
    """outcomes"""
    outcomes = sub.add_parser("outcomes", help="record what really happened for scored readings (POST /outcomes)")
    actions = outcomes.add_subparsers(dest="action", required=True)
    up = actions.add_parser(
        "upload",
        help="send a CSV of outcomes: model,outcome and event_id, or sensor,timestamp (epoch ms)",
        description="Each refused row is named by its line; exits 1 when any was refused. Sending a file "
        "again is harmless: an outcome already stored answers as a duplicate.",
    )
    up.add_argument("file", help="CSV with a header: model, outcome, and event_id or sensor and timestamp")
    up.add_argument("--batch", type=int, default=100, choices=range(1, 101), metavar="1-100", help="rows a request")
    up.add_argument("--url", help="the API (default: where the state dir's `nrt up` listens)")
    up.add_argument("--stack", help="a deployed stack: its ApiUrl and its API key")
    up.add_argument("--region")
    api_key_flags(up)
    up.set_defaults(func=cmd_outcomes)
