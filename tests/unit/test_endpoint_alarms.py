"""functions/endpoint_alarms: a model-errors and a cold-starts alarm for each <prefix>* endpoint,
and for no other endpoint (a CloudWatch alarm cannot select endpoints by a name prefix)."""

from __future__ import annotations

from functions.endpoint_alarms.app import Settings, alarms_for, plan

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
