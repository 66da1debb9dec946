"""What every command group shares: the --state-dir, key and API flags, the name rule as an
argparse type, and finding the stack (local or deployed) or the lake a command works on."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nrt.names import NameRuleError, check_model_name
from nrt.ops import stacks
from nrt.ops.stacks import Stack, StackError
from nrt.statedir import (
    API_PORT,
    AWS_PORT,
    StateDir,
    read_stack_record,
    state_dir_default,
)


def api_key_for(args: argparse.Namespace) -> str | None:
    """The key `nrt up` requires: --api-key, or with --auth a new one, kept in <state-dir>/api-key."""
    key: str | None = getattr(args, "api_key", None)
    if key is None and getattr(args, "auth", False):
        import secrets

        key = secrets.token_urlsafe(24)
    path = StateDir(Path(args.state_dir)).api_key
    path.unlink(missing_ok=True)  # an earlier run's key
    if key is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created readable by its owner only: never world-readable, not even for a moment.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(key + "\n")
    return key


def saved_api_key(args: argparse.Namespace) -> str | None:
    """--api-key, else the key a running `nrt up --auth` saved in its state dir."""
    if getattr(args, "api_key", None):
        return str(args.api_key)
    path = StateDir(Path(getattr(args, "state_dir", state_dir_default()))).api_key
    return path.read_text().strip() if path.exists() else None


def stack_of(args: argparse.Namespace) -> Stack:
    """The stack a command works on: the local one with --local (or without --stack), else the
    deployed --stack NAME."""
    if not getattr(args, "local", False) and getattr(args, "stack", None):
        return stacks.deployed(args.stack, getattr(args, "region", None))
    return stacks.local(Path(args.state_dir), args.aws_port, getattr(args, "url", None))


def serving_quality_tags(args: argparse.Namespace) -> Callable[[str], dict[str, float]] | None:
    """Each model's serving training value by its endpoint's tags on the running local stack
    (nrt/lake/quality.py's Tags), or None when the state dir records no stack or none answers
    (evaluation.json it is): a stack of another state dir is never asked."""
    from nrt.ops.deploy import serving_quality_of

    if read_stack_record(StateDir(Path(args.state_dir))) is None:
        return None
    try:
        stack = stacks.local(Path(args.state_dir), getattr(args, "aws_port", None))
    except StackError:
        return None
    return serving_quality_of(stack.client("sagemaker"), stack.output("EndpointPrefix"))


def lake_of(args: argparse.Namespace) -> Path:
    """--lake, or the lake of --state-dir (where `nrt up --state-dir` wrote it)."""
    return Path(args.lake) if args.lake else StateDir(Path(args.state_dir)).lake


def get_local(args: argparse.Namespace, path: str) -> Any:
    """GET a route of the running local API with its key; None (said on stderr) when it fails."""
    try:
        base = stacks.local(Path(args.state_dir), api_url=args.url, probe="api").api_url
    except StackError as error:
        print(f"cannot reach the local API: {error}", file=sys.stderr)
        return None
    key = saved_api_key(args)
    url = f"{base.rstrip('/')}{path}"
    request = urllib.request.Request(url, headers={"x-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as error:
        print(f"{url} answered {error.code}: {error.read().decode(errors='replace')}", file=sys.stderr)
    except OSError as error:
        print(f"cannot reach {base}: {error}", file=sys.stderr)
    return None


def model_name(text: str) -> str:
    """argparse's type for a model name: the name rule (nrt.names) with the local stack's prefix,
    so a bad name is a usage error before anything is read, written or deleted. A deployed stack
    with another prefix is checked again with its own by deploy."""
    try:
        return check_model_name(text, stacks.local_prefix())
    except NameRuleError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def state_dir_flag(p: argparse.ArgumentParser, help: str = "") -> None:
    """--state-dir, spelled and defaulted alike on every command: it also finds the running stack."""
    p.add_argument(
        "--state-dir",
        default=state_dir_default(),
        help=f"{help}the state dir of `nrt up`; its stack.json says where it listens (default: $NRT_STATE_DIR or .nrt)",
    )


def stack_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-port", type=int, default=API_PORT)
    p.add_argument("--aws-port", type=int, default=AWS_PORT)
    state_dir_flag(p)
    p.add_argument("--flush-seconds", type=float, default=5.0, help="lake buffer interval (Firehose's, locally)")


def api_key_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-key", help="default: the key `nrt up --auth` saved in <state-dir>/api-key")
    state_dir_flag(p)


def local_api_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="the local API (default: where the state dir's `nrt up` listens)")
    p.add_argument("--json", action="store_true")
    api_key_flags(p)


def answer_json(raw: bytes) -> Any:
    """An answer's body as JSON; a body that is not JSON, as its text."""
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return raw.decode(errors="replace")


def post_json(url: str, body: dict[str, Any], key: str | None) -> tuple[int, Any]:
    """POST body as JSON (with the API key when there is one): the HTTP status and the answer.
    No HTTP answer at all (refused, reset, timed out) raises urllib.error.URLError or OSError."""
    headers = {"Content-Type": "application/json", **({"x-api-key": key} if key else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, answer_json(resp.read())
    except urllib.error.HTTPError as error:
        return error.code, answer_json(error.read())
