"""Run the inference workflow of another commit on this checkout's `nrt up`, for the benchmarks.

The week-ago code and today's differ in two ways: the local runtime (API, VTL, store, embedded
AWS) and the workflow it runs (statemachine/inference.asl.json has grown by the cache and the
event-id claims). Running the older definition on today's runtime separates the two: the
runtime's own cost per reading, for the same work, side by side with the older runtime's.

The older definition is deployed as AWS would take it: UpdateStateMachine on the running
stack's embedded Step Functions, its ${...} substitutions filled with the values the deployed
definition has where this checkout's has the same name.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from benchmarks.stack import ROOT, Stack
from nrt.emulator.server import STATE_MACHINE, local_client, local_name
from nrt.template import LocalContext

INFERENCE = "statemachine/inference.asl.json"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def definition_at(ref: str) -> str:
    """The inference definition of commit REF, as written (with its ${...} placeholders)."""
    shown = subprocess.run(["git", "show", f"{ref}:{INFERENCE}"], cwd=ROOT, capture_output=True, text=True)
    if shown.returncode != 0:
        raise ValueError(f"no {INFERENCE} at {ref}: {shown.stderr.strip()}")
    return shown.stdout


def substitutions(written: str, deployed: str) -> dict[str, str]:
    """Each placeholder of the written definition, with the value it has in the deployed one."""
    values: dict[str, str] = {}

    def walk(raw: Any, filled: Any) -> None:
        if isinstance(raw, dict) and isinstance(filled, dict):
            for key in raw.keys() & filled.keys():
                walk(raw[key], filled[key])
        elif isinstance(raw, list) and isinstance(filled, list):
            for one, other in zip(raw, filled, strict=False):
                walk(one, other)
        elif isinstance(raw, str) and isinstance(filled, str) and _PLACEHOLDER.search(raw):
            pattern = "".join("(.*?)" if i % 2 else re.escape(part) for i, part in enumerate(_PLACEHOLDER.split(raw)))
            found = re.fullmatch(pattern, filled)
            if found:
                values.update(zip(_PLACEHOLDER.findall(raw), found.groups(), strict=True))

    walk(json.loads(written), json.loads(deployed))
    return values


def fill(written: str, values: dict[str, str]) -> str:
    """The written definition with its placeholders filled; a name with no value is refused."""
    missing = sorted(set(_PLACEHOLDER.findall(written)) - values.keys())
    if missing:
        raise ValueError(f"no value for {', '.join(missing)} in the deployed definition")
    return _PLACEHOLDER.sub(lambda name: values[name.group(1)], written)


def deploy_definition(stack: Stack, ref: str) -> None:
    """Replace the running stack's inference workflow with commit REF's."""
    ctx = LocalContext()
    sfn = local_client("stepfunctions", f"http://127.0.0.1:{stack.aws_port}", ctx.region)
    name = local_name(STATE_MACHINE, ctx)
    machines = sfn.list_state_machines()["stateMachines"]
    arn = next(m["stateMachineArn"] for m in machines if m["name"] == name)
    sfn.update_state_machine(stateMachineArn=arn, definition=filled(sfn, arn, definition_at(ref)))


def filled(sfn: Any, arn: str, written: str) -> str:
    """A written inference definition with the names the state machine at arn is deployed with."""
    deployed = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
    return fill(written, substitutions((ROOT / INFERENCE).read_text(), deployed))
