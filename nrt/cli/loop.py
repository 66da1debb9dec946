"""`nrt demo --loop`: the loop closed, in one command that prints the story.

1. The local stack and its model `failure`, which learnt the demo's rule: a failure is a peak in
   the middle of two similar readings.
2. Readings as the model knows them, each followed by what really happened (`nrt produce
   --outcomes`): the live quality matches training.
3. The world changes (`nrt produce --drift 0 --outcomes`): failures come as a dip. The live
   quality falls and the middle value drifts (`nrt quality`, `nrt drift`).
4. Retraining on production data (`nrt retrain failure --from-lake`): the lake's labelled
   readings, held out by time; the gate compares the candidate with the serving model on the most
   recent readings and promotes it.
5. The changed world again, answered by the new model: its live quality on them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nrt.statedir import StackRecord, StateDir, remove_stack_record, write_stack_record

__all__ = ["add_flags", "cmd_loop"]

MODEL = "failure"


def add_flags(demo: argparse.ArgumentParser) -> None:
    """The loop story's flags on `nrt demo`."""
    loop = demo.add_argument_group("the closed loop (--loop)")
    loop.add_argument(
        "--loop",
        action="store_true",
        help="run the closed loop instead: outcomes, live quality and drift, retraining from the lake, promotion",
    )
    loop.add_argument(
        "--phase-readings",
        type=int,
        default=600,
        help="readings in each of the story's three phases (default %(default)s)",
    )


def _say(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class Phase:
    """What one phase sent: its readings' time range (epoch ms) and how they were answered."""

    first_ms: int
    last_ms: int
    summary: dict[str, Any]


def send(url: str, readings: int, drifted: bool, seed: int) -> Phase:
    """`readings` demo readings, each followed by its outcome; drifted: the changed world."""
    from producer import producer

    plan = producer.Plan(
        url=url, rate=0, count=readings, concurrency=4, sensors=20, seed=seed,
        drift_after=0 if drifted else None, outcomes=True, keep_sent_ids=True,
    )  # fmt: skip
    stats = producer.run(plan)
    times = [int(sent.rsplit(":", 1)[1]) for sent in stats.sent_ids]  # each event id is <sensor>:<timestamp>
    return Phase(min(times), max(times), stats.summary())


def answered(phase: Phase) -> bool:
    ok = {200}
    return set(phase.summary["by_status"]) <= ok and set(phase.summary.get("outcomes_by_status", {})) <= ok


def scores(lake: Path, phase: Phase, expected: int, timeout: float = 90.0) -> dict[str, float]:
    """The phase's live quality once its labelled readings are all in the lake: F1 of the positive
    label, precision, recall and the labelled count (from the view the dashboard reads)."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    from nrt.lake.athena import LocalAthena

    sql = (
        "SELECT predicted_label, actual_label FROM labelled_predictions "
        f"WHERE model = '{MODEL}' AND \"timestamp\" BETWEEN {phase.first_ms} AND {phase.last_ms}"
    )
    deadline = time.monotonic() + timeout
    while True:
        rows = LocalAthena(lake).execute(sql, source="the loop's phase").rows
        if len(rows) >= expected or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    predicted, actual = [str(r[0]) for r in rows], [str(r[1]) for r in rows]
    kw: dict[str, Any] = {"pos_label": "1", "zero_division": 0.0}
    return {
        "labelled": len(rows),
        "f1": float(f1_score(actual, predicted, **kw)) if rows else 0.0,
        "precision": float(precision_score(actual, predicted, **kw)) if rows else 0.0,
        "recall": float(recall_score(actual, predicted, **kw)) if rows else 0.0,
    }


def answers_line(phase: Phase) -> str:
    """How the phase's readings and outcomes were answered, when any was not a 200."""
    summary = phase.summary
    examples = "; ".join(f"{k}: {v}" for k, v in summary.get("examples", {}).items())
    return f"   answers: readings {summary['by_status']}, outcomes {summary.get('outcomes_by_status', {})}" + (
        f" (e.g. {examples})" if examples else ""
    )


def quality_line(step: str, got: dict[str, float], trained: float | None) -> str:
    at_training = "?" if trained is None else f"{trained:.3f}"
    return (
        f"{step} live F1 {got['f1']:.3f} (precision {got['precision']:.3f}, recall {got['recall']:.3f}) over "
        f"{got['labelled']:.0f} labelled readings; {at_training} at training"
    )


def drift_line(lake: Path, model_dir: Path) -> str:
    """The most drifting feature of the last hour (nrt drift failure --hours 1)."""
    from nrt.lake.athena import LocalAthena
    from nrt.lake.drift import measure
    from training import profile as training_profile

    profile = training_profile.load(model_dir)
    if profile is None:
        return "   drift: the model has no training profile"
    order = list(profile["features"])
    drifts = measure(LocalAthena(lake), MODEL, profile, order, False, 1)
    worst = max(drifts, key=lambda d: d.psi)
    return f"   drift (nrt drift {MODEL} --hours 1): {worst.feature} PSI {worst.psi:.2f}, {worst.verdict}"


def _run(argv: list[str]) -> tuple[int, str]:
    """An nrt command in this process: (exit code, what it printed)."""
    import contextlib
    import io

    from nrt.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    return code, out.getvalue()


def _cli(argv: list[str]) -> None:
    """An nrt command, its output kept to itself unless it fails."""
    code, printed = _run(argv)
    if code:
        raise SystemExit(f"nrt {' '.join(argv)} failed ({code}):\n{printed[-2000:]}")


def retrain(args: argparse.Namespace) -> tuple[int, str]:
    """Step 4: nrt retrain failure --from-lake on the local stack; (exit code, what it printed)."""
    return _run(["retrain", MODEL, "--local", "--from-lake", "--state-dir", str(args.state_dir),
                 "--aws-port", str(args.aws_port)])  # fmt: skip


def trained_f1(model_dir: Path) -> float | None:
    path = model_dir / "evaluation.json"
    if not path.is_file():
        return None
    value = (json.loads(path.read_text()).get("metrics") or {}).get("f1")
    return float(value) if isinstance(value, int | float) else None


def serving_f1(args: argparse.Namespace, state: StateDir, otherwise: float | None) -> float | None:
    """The serving model's F1 at training, as the quality verdicts read it (its endpoint's
    nrt:quality_value tag, which a promotion rewrites); `otherwise` without one."""
    from nrt.ops import stacks
    from nrt.ops.deploy import serving_quality_of

    stack = stacks.local(state.root, args.aws_port)
    tagged = serving_quality_of(stack.client("sagemaker"), stack.output("EndpointPrefix"))(MODEL)
    return tagged.get("f1", otherwise)


def phase(
    url: str, lake: Path, n: int, drifted: bool, seed: int, trained: float | None
) -> tuple[Phase, dict[str, float]]:
    """One phase: its readings and outcomes sent, then its live quality once in the lake (said)."""
    sent = send(url, n, drifted=drifted, seed=seed)
    got = scores(lake, sent, n)
    _say(quality_line("  ", got, trained))
    return sent, got


def retrain_lines(args: argparse.Namespace) -> int:
    """Step 4, said as nrt retrain says it (the states it went through left out); its exit code."""
    code, printed = retrain(args)
    for line in printed.strip().splitlines():
        if not re.fullmatch(r"\s*[A-Z][A-Za-z]+", line):  # the states it went through, one a line
            _say(f"   {line}")
    return code


def story(args: argparse.Namespace, url: str, lake: Path, state: StateDir) -> bool:
    """Steps 2-5 on the running stack; whether the loop closed."""
    n, model_dir = args.phase_readings, state.model(MODEL)
    trained = trained_f1(model_dir)
    # The local stack serves its own model from its folder; deployed as a team deploys theirs,
    # it has its archive, training code and recipe in S3, which retraining starts from.
    _say(f"   deploying {MODEL} as any model is (nrt deploy-model {MODEL} --local), so it can be retrained ...")
    _cli(["deploy-model", MODEL, "--local", "--state-dir", str(state.root), "--aws-port", str(args.aws_port)])
    _say(f"2. {n} readings as the model knows the world, each followed by its outcome (POST /outcomes) ...")
    known, before = phase(url, lake, n, False, 21, trained)
    _say(f"3. the world changes: failures come as a dip in the middle; {n} readings and their outcomes ...")
    changed, during = phase(url, lake, n, True, 22, trained)
    _say(drift_line(lake, model_dir))
    _say(f"4. retraining {MODEL} on the lake's labelled readings (nrt retrain {MODEL} --from-lake) ...")
    code = retrain_lines(args)
    _say(f"5. the changed world again, {n} readings, answered by the model that now serves ...")
    again, after = phase(url, lake, n, True, 23, serving_f1(args, state, trained))
    for sent in (known, changed, again):
        if not answered(sent):
            _say(answers_line(sent))
    ok = code == 0 and all(map(answered, (known, changed, again))) and after["f1"] > during["f1"]
    ok = ok and min(before["labelled"], during["labelled"], after["labelled"]) >= n
    when = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S")
    _say(
        f"OK ({when}): outcomes in, quality and drift out, retrained from the lake, promoted, F1 "
        f"{during['f1']:.3f} -> {after['f1']:.3f}"
        if ok
        else "FAILED: see the figures above"
    )
    return ok


def cmd_loop(args: argparse.Namespace) -> int:
    from nrt.cli.stack import _runtime

    state = StateDir(Path(args.state_dir))
    _say(f"1. starting the local stack; its model {MODEL} learnt that a failure is a peak in the middle ...")
    runtime = _runtime(args, log=lambda line: _say(f"   {line.strip()}"))
    try:
        assert runtime.aws is not None
        write_stack_record(state, StackRecord(runtime.api_url, runtime.aws.url, os.getpid(), False))
        args.aws_port = runtime.aws_port
        return 0 if story(args, runtime.api_url, runtime.lake, state) else 1
    finally:
        remove_stack_record(state)
        runtime.stop()
        sys.stdout.flush()
