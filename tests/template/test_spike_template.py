"""What a spike and a bill need that IaC can set: warm tables and a cost budget, both off by default."""

from __future__ import annotations

from typing import Any

from nrt.ops.plan import PlanRequest, make_plan
from nrt.template import Tag, load_template, resources

WRITTEN_PER_READING = ("PredictionsTable", "EventIdsTable")


def parameters() -> dict[str, Any]:
    found: dict[str, Any] = load_template()["Parameters"]
    return found


def conditions() -> dict[str, Any]:
    found: dict[str, Any] = load_template()["Conditions"]
    return found


def test_given_warm_write_units_when_deployed_then_both_tables_a_reading_writes_are_warmed_and_by_default_neither():
    assert parameters()["WarmWriteUnits"]["Default"] == 0
    assert conditions()["WarmTables"] == Tag("Not", [Tag("Equals", [Tag("Ref", "WarmWriteUnits"), 0])])
    for table in WRITTEN_PER_READING:
        warm = resources()[table]["Properties"]["WarmThroughput"]
        assert warm == Tag(
            "If", ["WarmTables", {"WriteUnitsPerSecond": Tag("Ref", "WarmWriteUnits")}, Tag("Ref", "AWS::NoValue")]
        ), table


def test_the_plans_answer_to_a_cold_table_is_the_template_parameter_that_warms_it():
    plan = make_plan(PlanRequest(rps=10_000))
    (dynamodb,) = [hop for hop in plan.hops if hop.name.startswith("DynamoDB")]
    cold = [q for q in dynamodb.quotas if q.default == 4_000]
    assert [q.code for q in cold] == ["parameter WarmWriteUnits"]
    assert cold[0].binds


def test_given_a_monthly_budget_then_it_counts_this_stacks_resources_and_tells_the_email_only_when_given():
    assert parameters()["MonthlyBudgetUsd"]["Default"] == 0
    assert conditions()["WithBudget"] == Tag("Not", [Tag("Equals", [Tag("Ref", "MonthlyBudgetUsd"), 0])])
    assert conditions()["WithBudgetEmail"] == Tag(
        "And", [Tag("Condition", "WithBudget"), Tag("Not", [Tag("Equals", [Tag("Ref", "BudgetEmail"), ""])])]
    )
    budget = resources()["CostBudget"]
    assert budget["Condition"] == "WithBudget"
    data = budget["Properties"]["Budget"]
    assert (data["BudgetType"], data["TimeUnit"]) == ("COST", "MONTHLY")
    assert data["BudgetLimit"] == {"Amount": Tag("Ref", "MonthlyBudgetUsd"), "Unit": "USD"}
    assert data["CostFilters"] == {"TagKeyValue": [Tag("Sub", "aws:cloudformation:stack-name$${AWS::StackName}")]}
    notifications = budget["Properties"]["NotificationsWithSubscribers"]
    assert notifications.name == "If" and notifications.value[0] == "WithBudgetEmail"
    assert notifications.value[2] == Tag("Ref", "AWS::NoValue")
    told = {(n["Notification"]["NotificationType"], n["Notification"]["Threshold"]) for n in notifications.value[1]}
    assert told == {("FORECASTED", 100), ("ACTUAL", 80), ("ACTUAL", 100)}
    assert all(
        n["Subscribers"] == [{"SubscriptionType": "EMAIL", "Address": Tag("Ref", "BudgetEmail")}]
        for n in notifications.value[1]
    )
