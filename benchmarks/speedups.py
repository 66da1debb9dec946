"""Each of issue 26's speed changes off, then on, in one process, alternating: CPU per single execution.

On a shared machine the CPU a reading costs moves by a third from one process to the next, more
than any one change saves. Here one embedded AWS (tables kept in the store, as `nrt up` runs)
times rounds of single-reading executions with one change undone, then done, alternating which
comes first, and reports each change's paired saving. Undone means moto's own code back in place
(the condition lexer, EvalComponent.eval), a new thread per timed state (as moto started), and
json_deepcopy calling itself for every leaf (as it did before), and every JSONPath through
jsonpath_ng (plain paths walked directly undone), and each in-process call's request built by
werkzeug's EnvironBuilder (moto's from_primitives) instead of from its environ, and a Choice's
missing variable with its message written out, and random identifiers drawn a letter at a time,
and a workflow's GetItem sent to moto's handler as a request instead of read in place.

.venv/bin/python -m benchmarks.speedups --pairs 6 --executions 60
"""

from __future__ import annotations

import argparse
import copy
import inspect
import itertools
import json
import statistics
import string
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.e2e import machine
from benchmarks.stack import in_process
from nrt import emulator
from nrt.emulator import speed
from nrt.emulator.server import EmbeddedAws
from nrt.state.restore import keep_changes
from nrt.state.store import Store


class ThreadEach:
    """A new thread for each timed state, as moto starts one."""

    def run(self, job: Callable[[], None]) -> None:
        threading.Thread(target=job, daemon=True).start()


# leaf_calls runs as json_deepcopy's code, with nrt.emulator.speed's globals: the names it reads
# are speed's own, bound here too for reading it.
json_deepcopy = speed.json_deepcopy
_IMMUTABLE = speed._IMMUTABLE
_PLAIN_OBJECTS = speed._PLAIN_OBJECTS


def leaf_calls(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """json_deepcopy as it was: a call for every member."""
    if memo is not None:
        return copy.deepcopy(value, memo)
    kind = type(value)
    if kind is dict:
        return {k: json_deepcopy(v) for k, v in value.items()}
    if kind is list:
        return [json_deepcopy(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    if kind in _PLAIN_OBJECTS:
        clone = object.__new__(kind)
        clone.__dict__.update(json_deepcopy(value.__dict__))
        return clone
    return copy.deepcopy(value)


def written_variable(self: Any, env: Any) -> None:
    """A Choice rule's variable as moto evaluates it: a missing one's message written out at once."""
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable

    try:
        self.string_sampler.eval(env=env)
        value = env.stack.pop()
    except Exception as ex:
        value = NoSuchVariable(f"{self.string_sampler.literal_value}, {ex}")
    env.stack.append(value)


def drawn_one_by_one(self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
    """A random identifier as moto draws it: one choice() a letter."""
    pool = string.ascii_letters + string.digits if include_digits else string.ascii_letters
    text = "".join([self.choice(pool) for _ in range(length)])
    return text.lower() if lower_case else text


def toggles() -> dict[str, Callable[[bool], None]]:
    """Each change by name: a function that puts it on (True) or takes it off (False)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.moto_api._internal.moto_random import MotoRandom
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import Variable

    lex_on = ConditionExpressionParser._lex_condition_expression
    lex_off = getattr(lex_on, "__wrapped__")  # noqa: B009 - moto's lexer, kept by functools.wraps
    eval_on = EvalComponent.eval
    eval_off = inspect.getclosurevars(eval_on).nonlocals["stepped"]
    workers_on, copy_on = speed.TIMED_STATE_WORKERS, speed.json_deepcopy.__code__
    plain_on = speed.plain_steps
    wsgi_on = speed.wsgi_request
    variable_on = Variable._eval_body
    random_on = MotoRandom.get_random_string
    in_place = speed.InProcessClient.IN_PLACE.copy()

    def lexing(on: bool) -> None:
        ConditionExpressionParser._lex_condition_expression = lex_on if on else lex_off  # type: ignore[method-assign]

    def eval_step(on: bool) -> None:
        EvalComponent.eval = eval_on if on else eval_off  # type: ignore[method-assign]

    def workers(on: bool) -> None:
        speed.TIMED_STATE_WORKERS = workers_on if on else ThreadEach()  # type: ignore[assignment]

    def leaves(on: bool) -> None:
        speed.json_deepcopy.__code__ = copy_on if on else leaf_calls.__code__

    def plain(on: bool) -> None:
        speed.plain_steps = plain_on if on else (lambda path: None)  # type: ignore[assignment]

    def environ(on: bool) -> None:
        from moto.core.request import Request

        speed.wsgi_request = wsgi_on if on else Request.from_primitives

    def missing(on: bool) -> None:
        Variable._eval_body = variable_on if on else written_variable  # type: ignore[method-assign]

    def identifiers(on: bool) -> None:
        MotoRandom.get_random_string = random_on if on else drawn_one_by_one  # type: ignore[method-assign]

    def answered_in_place(operation: tuple[str, str]) -> Callable[[bool], None]:
        def toggle(on: bool) -> None:
            if on:
                speed.InProcessClient.IN_PLACE[operation] = in_place[operation]
            else:
                speed.InProcessClient.IN_PLACE.pop(operation, None)

        return toggle

    each = {
        "condition-lexing": lexing,
        "eval-step": eval_step,
        "timed-state workers": workers,
        "deepcopy leaves": leaves,
        "plain paths": plain,
        "request from environ": environ,
        "missing variables": missing,
        "random identifiers": identifiers,
        "items read in place": answered_in_place(("dynamodb", "GetItem")),
        "items written in place": answered_in_place(("dynamodb", "PutItem")),
        "models called in place": answered_in_place(("sagemaker", "InvokeEndpoint")),
    }

    def every(on: bool) -> None:
        for toggle in each.values():
            toggle(on)

    return {**each, "all": every}


def paired(toggle: Callable[[bool], None], pairs: int, cpu_ms: Callable[[], float]) -> tuple[list[float], list[float]]:
    """CPU ms per execution with the change off and on, pairs of rounds, alternating which goes first."""
    off: list[float] = []
    on: list[float] = []
    for i in range(pairs):
        for state in (False, True) if i % 2 == 0 else (True, False):
            toggle(state)
            (on if state else off).append(cpu_ms())
    toggle(True)
    return off, on


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6, help="pairs of rounds (off, on) per change")
    parser.add_argument("--executions", type=int, default=60, help="single-reading executions per round")
    parser.add_argument("--only", nargs="+", metavar="CHANGE", help="these changes only (names as printed)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with in_process() as (aws, state):
        execute = executor(aws)
        for _ in range(20):  # warm-up: imports, parse cache, connections
            execute()
        committer = keep_changes(aws, Store(state / "state.db"))

        def cpu_ms() -> float:
            started = time.process_time()
            for _ in range(args.executions):
                execute()
            return float((time.process_time() - started) * 1000 / args.executions)

        print(f"machine: {machine()}  ({time.strftime('%Y-%m-%d %H:%M')})")
        for name, toggle in toggles().items():
            if args.only and name not in args.only:
                continue
            off, on = paired(toggle, args.pairs, cpu_ms)
            saved = [a - b for a, b in zip(off, on, strict=True)]
            print(
                f"{name:<20} off {statistics.median(off):6.2f}  on {statistics.median(on):6.2f} ms CPU per execution;"
                f" paired saving median {statistics.median(saved):5.2f} ms ({min(saved):.2f} to {max(saved):.2f})",
                flush=True,
            )
        committer.close()
    print(f"({args.pairs} pairs of rounds of {args.executions} single executions per change)")
    return 0


def executor(aws: EmbeddedAws) -> Callable[[], None]:
    """One single-reading execution, answered once what it wrote is kept (as the local API does)."""
    clock = itertools.count(1_700_000_000_000)

    def execute() -> None:
        body = {"sensor": "bench", "model": "bench", "timestamp": next(clock), "data": [12, 87, 20]}
        result = emulator.start_sync_execution(
            aws.state_machine_arn, json.dumps(body), account=aws.ctx.account, region=aws.ctx.region
        )
        aws.wiring.sync()
        if result["status"] != "SUCCEEDED":
            raise SystemExit(f"execution failed: {result}")

    return execute


if __name__ == "__main__":
    sys.exit(main())
