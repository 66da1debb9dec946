"""`nrt failures`: list the failure store, or replay what is replayable."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nrt.cli.common import api_key_flags, post_json, saved_api_key, stack_of
from nrt.ops.stacks import Stack, StackError
from nrt.statedir import StateDir, read_stack_record

if TYPE_CHECKING:
    from nrt.ops.failures import Failure


def replay_url(args: argparse.Namespace, stack: Stack) -> str:
    """The API of the stack whose failure store is read: --url, else the stack's; a local stack
    found by --aws-port, the API its state dir records for that port."""
    if args.url:
        return str(args.url)
    if stack.local and args.aws_port is not None:
        return recorded_api(StateDir(Path(args.state_dir)), args.aws_port)
    return stack.api_url


def recorded_api(state: StateDir, aws_port: int) -> str:
    """The API stack.json records beside the embedded AWS at aws_port. Another port's record (or
    none, and so the default API) is another stack's API: StackError, rather than replay there."""
    record = read_stack_record(state)
    if record is not None and urllib.parse.urlsplit(record.aws_url).port == aws_port:
        return record.api_url
    recorded = f"records the embedded AWS at {record.aws_url}" if record else "records no running stack"
    raise StackError(
        f"which API serves the stack at --aws-port {aws_port} is unknown ({state.stack} {recorded}): "
        f"pass --url with that stack's API, or --state-dir of that stack instead of --aws-port"
    )


def cmd_failures(args: argparse.Namespace) -> int:

    from nrt.ops import failures

    try:
        stack = stack_of(args)
        ddb, table_name = stack.client("dynamodb"), stack.output("FailuresTableName")
        url = replay_url(args, stack) if args.action == "replay" else ""
    except StackError as error:
        print(f"cannot {args.action} the failure store: {error}", file=sys.stderr)
        return 1
    try:
        found_failures = list(failures.scan(ddb, table_name))
    except Exception as error:
        print(f"cannot read the failure store {table_name}: {error}. Is `nrt up` running?", file=sys.stderr)
        return 1
    if args.action == "replay":

        def delete(failure_id: str) -> None:
            ddb.delete_item(TableName=table_name, Key={"failure_id": {"S": failure_id}})

        return replay_to(url, args, found_failures, delete)
    if args.json:
        print(json.dumps([f.__dict__ for f in found_failures], indent=1))
    else:
        print(failures.table(found_failures))
    return 0


class Unreachable(Exception):
    """The API gave no HTTP answer: the replay stops there, every record not replayed kept."""


def replay_to(url: str, args: argparse.Namespace, found: list[Failure], delete: Callable[[str], None]) -> int:
    """Replay the replayable failures to the API at url; `delete` removes a record that is done."""
    from nrt.ops import failures

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        key = saved_api_key(args) if not args.stack else args.api_key
        try:
            return post_json(f"{url.rstrip('/')}/predictions", body, key)
        except (urllib.error.URLError, OSError) as error:  # refused, reset, timed out: no HTTP answer
            raise Unreachable(getattr(error, "reason", error)) from None

    print(f"replaying to {url}/predictions ...")
    try:
        summary = failures.replay(found, post, delete, print)
    except Unreachable as error:
        print(
            f"cannot reach {url}/predictions: {error}. Is the stack's API running (`nrt up`, or --url)? "
            "The failure store is as it was for every reading not yet replayed.",
            file=sys.stderr,
        )
        return 1
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
    failed.add_argument(
        "--url",
        help="the API to replay to (default: the API the state dir's stack.json records, or the stack's ApiUrl)",
    )
    api_key_flags(failed)
    failed.add_argument("--stack", help="use a deployed stack's failure store instead of the local one")
    failed.add_argument("--region")
    failed.add_argument("--json", action="store_true")
    failed.set_defaults(func=cmd_failures)
