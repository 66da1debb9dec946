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

from nrt.signals import StopSignals

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    # Imported here, not above: `nrt` records Ctrl-C before these imports take their second.
    from nrt.cli import failures, models, plan, queries, stack

    parser = argparse.ArgumentParser(prog="nrt", description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (stack, queries, models, failures, plan):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line (`argv` None: this process's own, with its signals) or the given one."""
    if argv is not None:
        return _run(argv)
    # Importing the commands takes up to a second: a Ctrl-C then is recorded, not a traceback.
    # `nrt up` keeps these handlers and stops once started; any other command ends at once.
    early = StopSignals.install()
    argv = sys.argv[1:]
    build_parser()
    if argv[:1] != ["up"]:
        early.uninstall()
        if early.stopped:
            return 128 + early.received[0]
    return _run(argv)


def _run(argv: list[str]) -> int:
    if argv[:1] == ["produce"]:
        from nrt.cli.stack import PRODUCE_EPILOG, producer_argv
        from producer import producer

        # The producer owns its flags (and --help); argparse's REMAINDER would eat none of them.
        return producer.main(producer_argv(argv[1:]), epilog=PRODUCE_EPILOG)
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
