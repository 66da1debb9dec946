"""The `nrt` command: run the pipeline on this machine, send readings, query the lake, list
models, train.

One module per command group, each adding its subcommands to the one parser:
- `stack`: up, status, demo, produce (the running local stack)
- `queries`: query, dashboard (the lake)
- `models`: models, train, deploy-model, retrain, image-uri
- `failures`: failures (list, replay)
- `plan`: plan (capacity and cost on AWS at a rate)
- `common`: the flags and look-ups they share (--state-dir, keys, finding the stack)
"""

from __future__ import annotations

import argparse
import sys

from nrt.cli import failures, models, plan, queries, stack
from nrt.cli.stack import PRODUCE_EPILOG, producer_argv
from producer import producer

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nrt", description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (stack, queries, models, failures, plan):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["produce"]:
        # The producer owns its flags (and --help); argparse's REMAINDER would eat none of them.
        return producer.main(producer_argv(argv[1:]), epilog=PRODUCE_EPILOG)
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
