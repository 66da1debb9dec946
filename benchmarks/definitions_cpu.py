"""Inference workflows side by side on one embedded AWS, in-process: CPU per single execution.

`benchmarks.e2e --definition REF` compares workflows through `nrt up`, where the machine's noise
moves a figure by a third from one process to the next. Here one embedded AWS (tables kept in
the store, as `nrt up` runs) deploys each definition in turn by UpdateStateMachine and times
rounds of single-reading executions, alternating, so the workflows' own costs come apart:

.venv/bin/python -m benchmarks.definitions_cpu 9f22288 this this-without-setting --rounds 5

`this` is the checkout's definition; `this-without-setting` is the same with the cache
setting's read (ReadCacheSetting, a DynamoDB GetItem) replaced by a Pass that finds no setting:
what that read costs. Any other name is a commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from benchmarks.definitions import INFERENCE, definition_at, filled
from benchmarks.e2e import machine
from benchmarks.speedups import executor
from benchmarks.stack import ROOT, in_process
from nrt.state.restore import keep_changes
from nrt.state.store import Store

THIS = "this"
WITHOUT_SETTING = "this-without-setting"


def without_setting_read(definition: str) -> str:
    """The definition with ReadCacheSetting a Pass that finds no setting ($.cache = {})."""
    parsed = json.loads(definition)
    read = parsed["States"]["ReadCacheSetting"]
    parsed["States"]["ReadCacheSetting"] = {"Type": "Pass", "Result": {}, "ResultPath": "$.cache", "Next": read["Next"]}
    return json.dumps(parsed)


def written(name: str) -> str:
    """The definition a name stands for, as written (with its ${...} placeholders)."""
    ours = (ROOT / INFERENCE).read_text()
    if name == THIS:
        return ours
    if name == WITHOUT_SETTING:
        return without_setting_read(ours)
    return definition_at(name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("definitions", nargs="+", metavar="NAME", help=f"a commit, {THIS} or {WITHOUT_SETTING}")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each, alternating")
    parser.add_argument("--executions", type=int, default=300, help="single-reading executions per round")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with in_process() as (aws, state):
        committer = keep_changes(aws, Store(state / "state.db"))
        sfn = aws.client("stepfunctions")
        definitions = {name: filled(sfn, aws.state_machine_arn, written(name)) for name in args.definitions}
        execute = executor(aws)
        timed: dict[str, list[float]] = {name: [] for name in definitions}
        print(f"machine: {machine()}  ({time.strftime('%Y-%m-%d %H:%M')})")
        for _ in range(args.rounds):
            for name, definition in definitions.items():
                sfn.update_state_machine(stateMachineArn=aws.state_machine_arn, definition=definition)
                for _ in range(20):  # the new definition parsed, its paths compiled
                    execute()
                started = time.process_time()
                for _ in range(args.executions):
                    execute()
                timed[name].append((time.process_time() - started) * 1000 / args.executions)
        committer.close()
    for name, figures in timed.items():
        rounds = " / ".join(f"{f:.2f}" for f in figures)
        print(f"{name:<22} {rounds}  median {statistics.median(figures):.2f} ms CPU per single execution")
    print(f"({args.rounds} rounds of {args.executions} single executions each, alternating)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
