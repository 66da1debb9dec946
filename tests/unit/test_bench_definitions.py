"""benchmarks.definitions: an older commit's inference workflow, filled with this stack's names."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks.definitions import INFERENCE, definition_at, fill, substitutions
from benchmarks.stack import ROOT

WEEK_AGO = "9f22288"  # the baseline: before durability, the VTL and the cache


def deployed(written: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda name: values[name.group(1)], written)


def test_each_placeholder_is_read_back_from_the_deployed_definition_even_inside_a_longer_string():
    written = (ROOT / INFERENCE).read_text()
    names = set(re.findall(r"\$\{(\w+)\}", written))
    values = {name: f"local-{name.lower()}-7" for name in names}

    assert substitutions(written, deployed(written, values)) == values


def test_the_week_ago_workflow_is_filled_with_this_stacks_names_and_nothing_is_left_unfilled():
    written = (ROOT / INFERENCE).read_text()
    values = {name: f"nrt-local-{name}" for name in set(re.findall(r"\$\{(\w+)\}", written))}

    older = fill(definition_at(WEEK_AGO), substitutions(written, deployed(written, values)))

    assert "${" not in older
    assert "nrt-local-PredictionsTable" in older
    assert json.loads(older)["StartAt"] == "Validate"


def test_a_placeholder_the_deployed_definition_does_not_name_is_refused():
    with pytest.raises(ValueError, match="NewTable"):
        fill('{"TableName": "${NewTable}"}', {"PredictionsTable": "p"})


def test_a_commit_without_the_workflow_is_refused_with_its_name():
    with pytest.raises(ValueError, match=r"no statemachine/inference\.asl\.json at nonexistent-ref"):
        definition_at("nonexistent-ref")


def test_without_the_setting_read_the_workflow_finds_no_setting_and_goes_on_as_it_did():
    from benchmarks.definitions_cpu import written

    ours = json.loads(written("this"))["States"]
    changed = json.loads(written("this-without-setting"))["States"]

    assert changed["ReadCacheSetting"] == {
        "Type": "Pass",
        "Result": {},
        "ResultPath": "$.cache",
        "Next": ours["ReadCacheSetting"]["Next"],
    }
    assert {k: v for k, v in changed.items() if k != "ReadCacheSetting"} == {
        k: v for k, v in ours.items() if k != "ReadCacheSetting"
    }
    assert json.loads(written(WEEK_AGO))["StartAt"] == "Validate"
