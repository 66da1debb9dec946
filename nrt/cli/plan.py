"""`nrt plan`: the capacity and cost plan of the deployed stack at a rate, hop by hop."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_commands", "cmd_plan"]


def cmd_plan(args: argparse.Namespace) -> int:
    from nrt.ops.plan import PlanError, PlanRequest, make_plan, render, to_json
    from nrt.ops.prices import UnpricedRegion

    request = PlanRequest(
        rps=args.rps,
        batch=args.batch,
        tier=args.tier,
        memory_mb=args.memory,
        region=args.region,
        instance_type=args.instance_type,
        features=args.features,
        event_ids=args.event_ids,
    )
    try:
        plan = make_plan(request)
    except (PlanError, UnpricedRegion) as error:
        print(f"nrt plan: {error}", file=sys.stderr)
        return 2
    print(json.dumps(to_json(plan), indent=2) if args.json else render(plan))
    return 0


def add_commands(sub: Any) -> None:
    """plan"""
    from nrt.ops.plan import TIERS

    plan = sub.add_parser(
        "plan",
        help="capacity and cost on AWS at a rate: quotas that bind, concurrency, throughput, $ a month",
        description="The deployed stack at --rps readings a second, hop by hop: the quota that binds (default and "
        "Service Quotas code), the concurrency Little's law needs, Kinesis and Firehose throughput, and the month's "
        "cost at that rate and idle (us-east-1 list prices, nrt/ops/prices.py). Counts come from template.yaml and "
        "the inference ASL.",
    )
    plan.add_argument("--rps", type=float, required=True, help="readings per second")
    plan.add_argument(
        "--batch", type=int, default=1, help="readings per request (default 1; at most the workflow's limit)"
    )
    plan.add_argument("--tier", choices=TIERS, default="serverless", help="where the model runs (default serverless)")
    plan.add_argument(
        "--memory",
        type=int,
        help="MB: serverless 1024-6144 in GB steps (default 2048), lambda 128-10240 (default 1024)",
    )
    plan.add_argument(
        "--instance-type", default="ml.m5.large", help="instance tier and break-even (default ml.m5.large)"
    )
    plan.add_argument("--features", type=int, default=30, help="numeric features a reading carries (default 30)")
    plan.add_argument(
        "--event-ids", action="store_true", help="readings carry their own event_id (a second write each)"
    )
    plan.add_argument("--region", default="us-east-1", help="price table (only us-east-1 is sourced)")
    plan.add_argument("--json", action="store_true", help="the plan as JSON")
    plan.set_defaults(func=cmd_plan)
