"""`nrt query`, `nrt dashboard` and `nrt drift`: the local lake, as Athena and QuickSight read it on AWS."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nrt.cli.common import lake_of, state_dir_flag
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
        page = write_dashboard(lake_of(args), Path(args.out) if args.out else StateDir(Path(args.state_dir)).dashboard)
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
    from training import profile as training_profile
    from training.inference import SIGNATURE, Signature

    folder = StateDir(state_dir).model(name)
    profile = training_profile.load(folder)
    if profile is None or not (folder / SIGNATURE).is_file():
        print(
            f"nrt drift {name}: no training profile in {folder} (nrt train writes one; a model trained "
            "before profiles, or elsewhere, has none: train it again)",
            file=sys.stderr,
        )
        return None
    signature = Signature.from_dict(json.loads((folder / SIGNATURE).read_text()))
    return profile, [f.name for f in signature.features], signature.named


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


def add_commands(sub: Any) -> None:
    """query, dashboard, drift"""
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
