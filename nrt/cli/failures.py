"""`nrt failures`: list the failure store, or replay what is replayable."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from nrt.cli.common import api_key_flags, saved_api_key, stack_of
from nrt.ops.stacks import StackError


def cmd_failures(args: argparse.Namespace) -> int:

    from nrt.ops import failures

    try:
        stack = stack_of(args)
        ddb, table_name, url = stack.client("dynamodb"), stack.output("FailuresTableName"), args.url or stack.api_url
    except StackError as error:
        print(f"cannot read the failure store: {error}", file=sys.stderr)
        return 1
    try:
        found_failures = list(failures.scan(ddb, table_name))
    except Exception as error:
        print(f"cannot read the failure store {table_name}: {error}. Is `nrt up` running?", file=sys.stderr)
        return 1
    if args.action == "list":
        if args.json:
            print(json.dumps([f.__dict__ for f in found_failures], indent=1))
        else:
            print(failures.table(found_failures))
        return 0

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        key = saved_api_key(args) if not args.stack else args.api_key
        headers = {"Content-Type": "application/json", **({"x-api-key": key} if key else {})}
        request = urllib.request.Request(
            f"{url.rstrip('/')}/predictions", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def delete(failure_id: str) -> None:
        ddb.delete_item(TableName=table_name, Key={"failure_id": {"S": failure_id}})

    print(f"replaying to {url}/predictions ...")
    summary = failures.replay(found_failures, post, delete, print)
    print(
        f"replayed {summary.replayed}: {summary.succeeded} succeeded and were removed, "
        f"{summary.failed_again} failed again; {summary.skipped} not replayable (kept)"
    )
    return 0 if summary.failed_again == 0 else 1


def add_commands(sub: Any) -> None:
    """failures"""
    failed = sub.add_parser("failures", help="list the failure store, or replay what is replayable")
    failed.add_argument("action", nargs="?", choices=["list", "replay"], default="list")
    failed.add_argument("--aws-port", type=int, help="the embedded AWS's port (default: the state dir's)")
    failed.add_argument("--url", help="the API to replay to (default: the local API, or the stack's ApiUrl)")
    api_key_flags(failed)
    failed.add_argument("--stack", help="use a deployed stack's failure store instead of the local one")
    failed.add_argument("--region")
    failed.add_argument("--json", action="store_true")
    failed.set_defaults(func=cmd_failures)
