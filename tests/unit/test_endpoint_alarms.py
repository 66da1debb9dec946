"""functions/endpoint_alarms: a model-errors and a cold-starts alarm for each <prefix>* endpoint,
and for no other endpoint (a CloudWatch alarm cannot select endpoints by a name prefix)."""

from __future__ import annotations

from typing import Any

from functions.endpoint_alarms.app import Settings, alarms_for, on_stack_event, plan

SETTINGS = Settings("nrt-", "stack-endpoint-", "arn:aws:sns:us-east-1:123456789012:ops", 10)


def endpoint(name: str, status: str = "InService") -> dict[str, str]:
    return {"EndpointName": name, "EndpointStatus": status}


def test_each_prefixed_endpoint_gets_its_pair_and_others_get_none():
    wanted, stale = plan([endpoint("nrt-a"), endpoint("other-b"), endpoint("nrt-c", "Updating")], set(), SETTINGS)

    assert sorted(a["AlarmName"] for a in wanted) == [
        "stack-endpoint-nrt-a-cold-starts",
        "stack-endpoint-nrt-a-model-errors",
        "stack-endpoint-nrt-c-cold-starts",
        "stack-endpoint-nrt-c-model-errors",
    ]
    assert stale == []


def test_the_alarms_of_an_endpoint_gone_or_failed_are_deleted_and_no_one_elses():
    existing = {"stack-endpoint-nrt-old-model-errors", "stack-endpoint-nrt-a-model-errors", "someone-elses-alarm"}

    _, stale = plan([endpoint("nrt-a"), endpoint("nrt-broken", "Failed")], existing, SETTINGS)

    assert stale == ["stack-endpoint-nrt-old-model-errors"]


def test_each_alarm_queries_its_own_endpoint_and_notifies_the_topic():
    errors, cold = alarms_for("nrt-a", SETTINGS)

    assert "WHERE EndpointName = 'nrt-a'" in errors["Metrics"][0]["Expression"]
    assert "SUM(InvocationModelErrors)" in errors["Metrics"][0]["Expression"]
    assert "COUNT(ModelSetupTime)" in cold["Metrics"][0]["Expression"]
    assert cold["Threshold"] == 10
    assert errors["AlarmActions"] == errors["OKActions"] == ["arn:aws:sns:us-east-1:123456789012:ops"]
    assert alarms_for("nrt-a", Settings("nrt-", "s-", "", 1))[0]["AlarmActions"] == []


class Paged:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return self.pages


class CloudWatch:
    """Alarms by name; DescribeAlarms by prefix, DeleteAlarms as CloudWatch does."""

    def __init__(self, names: set[str], fail: bool = False) -> None:
        self.names = set(names)
        self.fail = fail

    def get_paginator(self, _: str) -> Paged:
        if self.fail:
            raise RuntimeError("AccessDenied")
        return Paged(
            [{"MetricAlarms": [{"AlarmName": n} for n in sorted(self.names) if n.startswith("stack-endpoint-")]}]
        )

    def delete_alarms(self, AlarmNames: list[str]) -> None:
        assert len(AlarmNames) <= 100
        self.names -= set(AlarmNames)


def stack_event(kind: str) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/x",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/stack/1",
        "RequestId": "r-1",
        "LogicalResourceId": "EndpointAlarms",
        "ResourceProperties": {"AlarmPrefix": "stack-endpoint-"},
    }


def test_the_stacks_delete_deletes_every_alarm_the_function_owns_and_no_one_elses():
    owned = {f"stack-endpoint-nrt-{i}-model-errors" for i in range(150)}
    cloudwatch = CloudWatch(owned | {"someone-elses-alarm"})

    answer = on_stack_event(stack_event("Delete"), None, cloudwatch, SETTINGS)  # type: ignore[arg-type]

    assert cloudwatch.names == {"someone-elses-alarm"}
    assert answer == {
        "Status": "SUCCESS",
        "Reason": "deleted 150 endpoint alarms",
        "PhysicalResourceId": "stack-endpoint-",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/stack/1",
        "RequestId": "r-1",
        "LogicalResourceId": "EndpointAlarms",
    }


def test_a_failure_is_answered_failed_with_its_reason_never_left_unanswered():
    answer = on_stack_event(stack_event("Delete"), None, CloudWatch(set(), fail=True), SETTINGS)  # type: ignore[arg-type]

    assert (answer["Status"], answer["Reason"]) == ("FAILED", "RuntimeError: AccessDenied")


def test_with_the_quality_namespace_each_endpoint_also_gets_its_models_quality_alarm():
    settings = Settings("nrt-", "stack-endpoint-", "", 10, "stack/ModelQuality", 0.05)

    quality = alarms_for("nrt-shop", settings)[-2]

    assert quality["AlarmName"] == "stack-endpoint-nrt-shop-quality"
    stats = {m["Id"]: m["MetricStat"] for m in quality["Metrics"] if "MetricStat" in m}
    assert {i: s["Metric"]["MetricName"] for i, s in stats.items()} == {
        "live": "LiveQuality",
        "training": "TrainingQuality",
        "direction": "QualityDirection",
    }
    for stat in stats.values():  # the model's name, the endpoint's without the prefix; the monitor's hour
        assert stat["Metric"]["Dimensions"] == [{"Name": "Model", "Value": "shop"}]
        assert stat["Metric"]["Namespace"] == "stack/ModelQuality" and stat["Period"] == 3600
    shortfall = next(m for m in quality["Metrics"] if m.get("ReturnData"))
    assert shortfall["Expression"] == "IF(direction > 0, training - live, (live - training) / ABS(training))"
    assert (quality["Threshold"], quality["ComparisonOperator"]) == (0.05, "GreaterThanThreshold")
    assert quality["TreatMissingData"] == "notBreaching"  # too few labels: nothing published, nothing raised


def test_without_the_quality_namespace_an_endpoint_keeps_its_pair_only():
    assert len(alarms_for("nrt-shop", SETTINGS)) == 2


def test_with_the_quality_namespace_each_endpoint_also_gets_its_models_drift_alarm_at_major_drift():
    settings = Settings("nrt-", "stack-endpoint-", "", 10, "stack/ModelQuality", 0.05)

    drift = alarms_for("nrt-shop", settings)[-1]

    assert drift["AlarmName"] == "stack-endpoint-nrt-shop-drift"
    (worst,) = drift["Metrics"]
    assert worst["MetricStat"]["Metric"] == {
        "Namespace": "stack/ModelQuality",
        "MetricName": "WorstDriftPsi",
        "Dimensions": [{"Name": "Model", "Value": "shop"}],
    }
    assert worst["ReturnData"] is True
    assert (drift["Threshold"], drift["ComparisonOperator"]) == (0.25, "GreaterThanThreshold")
