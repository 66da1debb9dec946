"""`nrt query`, `nrt dashboard`, `nrt drift`, `nrt quality`: the local lake, as Athena and QuickSight read it."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nrt.cli.common import lake_of, serving_quality_tags, state_dir_flag
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
        state = StateDir(Path(args.state_dir))
        page = write_dashboard(lake_of(args), Path(args.out) if args.out else state.dashboard, state.models)
    except QueryError as error:
        print(f"dashboard failed: {error}", file=sys.stderr)
        return 1
    print(f"wrote {page}")
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    from nrt.lake.athena import LocalAthena, QueryError
    from nrt.lake.drift import measure

    trained = _trained(args.name, Path(args.state_dir))
    if trained is None:
        return 2
    profile, order, named = trained
    try:
        drifts = measure(LocalAthena(lake_of(args)), args.name, profile, order, named, args.hours)
    except QueryError as error:
        print(f"nrt drift {args.name}: {error}", file=sys.stderr)
        return 1
    print(json.dumps([asdict(d) for d in drifts], indent=1) if args.json else _drift_table(args, profile, drifts))
    return 0


def _trained(name: str, state_dir: Path) -> tuple[dict[str, Any], list[str], bool] | None:
    """The model's training profile, feature order and whether readings name their features; None
    (said on stderr) for a model without a profile."""
    from nrt.lake.drift import trained

    folder = StateDir(state_dir).model(name)
    found = trained(folder)
    if found is None:
        print(
            f"nrt drift {name}: no training profile in {folder} (nrt train writes one; a model trained "
            "before profiles, or elsewhere, has none: train it again)",
            file=sys.stderr,
        )
    return found


def _drift_table(args: argparse.Namespace, profile: dict[str, Any], drifts: list[Any]) -> str:
    from nrt.lake.drift import DRIFT, MAJOR

    readings = max((d.readings for d in drifts), default=0)
    lines = [
        f"nrt drift {args.name}: {readings:,} readings of the last {args.hours:g} h against "
        f"{profile['rows']:,} training rows (PSI; drift at {DRIFT}, major at {MAJOR})"
    ]
    if not readings:
        return "\n".join([*lines, "no recent readings of this model in the lake: nothing to compare"])
    width = max(len("feature"), *(len(d.feature) for d in drifts))
    lines.append(f"{'feature':<{width}}  {'kind':<8}  {'PSI':>7}  {'verdict':<11}  moved most")
    for d in sorted(drifts, key=lambda d: -d.psi):
        lines.append(f"{d.feature:<{width}}  {d.kind:<8}  {d.psi:>7.4f}  {d.verdict:<11}  {d.moved}")
    drifting = sum(d.verdict != "no drift" for d in drifts)
    return "\n".join([*lines, f"{drifting} of {len(drifts)} features drift"])


def cmd_quality(args: argparse.Namespace) -> int:
    from nrt.lake import quality
    from nrt.lake.athena import LocalAthena, QueryError

    tagged = serving_quality_tags(args)
    folder = StateDir(Path(args.state_dir)).model(args.name)  # the name rule, before anything is read
    found = quality.trained(folder.parent, args.name, tagged)
    training = found.metrics
    try:
        athena = LocalAthena(lake_of(args))
        rows = quality.daily(athena, args.name, args.days)
        recent = [r for r in quality.recent(athena) if r["model"] == args.name]
    except QueryError as error:
        print(f"nrt quality {args.name}: {error}", file=sys.stderr)
        return 1
    verdict = quality.judge(recent[0], training, args.margin, args.min_labelled, found.source) if recent else None
    source = _training_from(found.source, running=tagged is not None)
    if args.json:
        out = {
            "model": args.name,
            "training": training,
            "training_from": source,
            "last_7_days": verdict and asdict(verdict),
            "days": rows,
        }
        print(json.dumps(out, indent=1, default=str))
    else:
        print(_quality_table(args, training, verdict, rows, source))
    return 0


def _training_from(source: str, running: bool) -> str:
    """Where the training value was read, and why evaluation.json when it was."""
    from nrt.lake.quality import EVALUATED

    if source != EVALUATED:
        return source
    why = "the endpoint has no nrt:quality_value tag" if running else "no running stack to read its tags"
    return f"{source}: {why}"


def _quality_table(
    args: argparse.Namespace, training: dict[str, Any], verdict: Any, rows: list[dict[str, Any]], source: str
) -> str:
    from nrt.lake.quality import HEADLINE

    if verdict is None:
        return (
            f"nrt quality {args.name}: no labelled readings of this model in the lake (its outcomes, "
            "POST /outcomes or nrt outcomes upload, joined with its predictions on event_id)"
        )
    metric = HEADLINE[verdict.kind]
    trained = f"{training[metric]:.4f} ({source})" if metric in training else "unknown (no tag, no evaluation.json)"
    lines = [
        f"nrt quality {args.name}: {verdict.kind}, {metric} at training {trained}",
        f"last 7 days: {verdict.state}: {verdict.words()} "
        f"(margin {verdict.margin:g}, at least {verdict.min_labelled} labelled)",
        *_day_lines(verdict.kind, rows),
    ]
    if not rows:
        lines.append(f"(no labelled readings in the last {args.days} days)")
    return "\n".join(lines)


def _day_lines(kind: str, rows: list[dict[str, Any]]) -> list[str]:
    """One aligned line a day: the labelled count and the kind's metrics with their intervals."""
    from nrt.lake.quality import INTERVALS

    shown = INTERVALS[kind]
    header = ["day", "labelled"] + [f"{name} [95 %]" if ranged else name for name, ranged in shown]
    cells = [header]
    for row in rows:
        cells.append([str(row["day"]), str(row["labelled"])] + [_cell(row, name, ranged) for name, ranged in shown])
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]


def _cell(row: dict[str, Any], name: str, ranged: bool) -> str:
    value = row.get(name)
    if value is None:
        return "-"
    if not ranged or row.get(f"{name}_low") is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{row[f'{name}_low']:.4f}, {row[f'{name}_high']:.4f}]"


def add_commands(sub: Any) -> None:
    """query, dashboard, drift, quality"""
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

    drift = sub.add_parser(
        "drift",
        help="each feature's drift (PSI) in a model's recent readings against its training profile",
        description="Drift without labels: each feature's population stability index over the bins of the "
        "model's training profile (profile.json, written by nrt train), from the recent readings in the lake.",
    )
    drift.add_argument("name", help="the model (as trained by nrt train NAME)")
    drift.add_argument("--hours", type=float, default=24.0, help="how far back the recent readings go (default 24)")
    drift.add_argument("--json", action="store_true", help="one object per feature")
    state_dir_flag(drift, "whose models and lake: ")
    drift.add_argument("--lake", help="the lake folder (default: <state-dir>/lake)")
    drift.set_defaults(func=cmd_drift)

    quality = sub.add_parser(
        "quality",
        help="a model's live quality per day (predictions joined with outcomes) beside its training metric",
        description="Live model quality: the kind's metrics per day with 95 %% intervals and the labelled count, "
        "from athena/model_quality.sql over the local lake, and the last 7 days judged against the metric the "
        "serving model had at training (its endpoint's nrt:quality_value tag on the running stack, else the "
        "model folder's evaluation.json).",
    )
    quality.add_argument("name", help="the model")
    quality.add_argument("--days", type=int, default=7, help="how many days back (default 7)")
    quality.add_argument("--margin", type=float, default=0.05, help="how far below training counts (default 0.05)")
    quality.add_argument(
        "--min-labelled", type=int, default=200, help="labelled readings needed to judge (default 200)"
    )
    quality.add_argument("--json", action="store_true", help="the training metrics, the verdict and the rows per day")
    state_dir_flag(quality, "whose models and lake: ")
    quality.add_argument("--lake", help="the lake folder (default: <state-dir>/lake)")
    quality.set_defaults(func=cmd_quality)
