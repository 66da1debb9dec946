"""template.yaml and statemachine/monitor.asl.json, live model quality on AWS: an hourly monitor,
off by default, that runs athena/quality_monitor.sql in the lake's work group and publishes each
model's live and training quality in one namespace, which each endpoint's quality alarm reads;
its IAM reaches that work group, the lake's tables and objects, the prefix's endpoints and that
namespace only."""

from __future__ import annotations

import json
from typing import Any

from nrt.lake.quality import HEADLINE, LOWER_IS_BETTER
from nrt.ops.deploy import QUALITY_VALUE_TAG
from nrt.template import ROOT, Tag, asl_placeholders, load_template, resources

NAMESPACE = Tag("Sub", "${AWS::StackName}/ModelQuality")


def machine() -> dict[str, Any]:
    found: dict[str, Any] = resources()["MonitorStateMachine"]["Properties"]
    return found


def asl() -> dict[str, Any]:
    found: dict[str, Any] = json.loads((ROOT / machine()["DefinitionUri"]).read_text())
    return found


def states() -> dict[str, Any]:
    """The quality branch's states."""
    found: dict[str, Any] = asl()["States"]["QualityAndDrift"]["Branches"][0]["States"]
    return found


def drift_states() -> dict[str, Any]:
    found: dict[str, Any] = asl()["States"]["QualityAndDrift"]["Branches"][1]["States"]
    return found


def policy() -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for p in machine()["Policies"] for s in p["Statement"]}


def test_the_monitor_is_scheduled_hourly_and_off_by_default():
    parameters = load_template()["Parameters"]
    schedule = machine()["Events"]["Schedule"]

    assert parameters["MonitorScheduleEnabled"]["Default"] == "false"
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    assert schedule["Properties"]["State"] == Tag("If", ["MonitorScheduled", "ENABLED", "DISABLED"])
    assert load_template()["Conditions"]["MonitorScheduled"] == Tag(
        "Equals", [Tag("Ref", "MonitorScheduleEnabled"), "true"]
    )
    # .sync (wait for the query) is offered to Standard workflows only.
    assert machine()["Type"] == "STANDARD"


def test_every_placeholder_of_the_asl_is_substituted():
    assert asl_placeholders(ROOT / machine()["DefinitionUri"]) == set(machine()["DefinitionSubstitutions"])


def test_the_query_is_athena_quality_monitor_sql_word_for_word_in_the_lakes_work_group():
    query = states()["Query"]
    sql = (ROOT / "athena" / "quality_monitor.sql").read_text()
    words = " ".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).split()

    assert query["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
    assert query["Parameters"]["QueryString"].split() == words
    assert query["Parameters"]["WorkGroup"] == "${AthenaWorkGroup}"
    assert machine()["DefinitionSubstitutions"]["AthenaWorkGroup"] == Tag("Ref", "AthenaWorkGroup")
    # The headline metric of each kind is the one nrt status and nrt quality compare.
    for kind, metric in HEADLINE.items():
        assert f"'{kind}' THEN {metric}" in " ".join(words) or (kind == "regression" and f"ELSE {metric}" in sql)
    assert "CASE kind WHEN 'regression' THEN -1 ELSE 1 END AS direction" in " ".join(words)
    assert HEADLINE["regression"] in LOWER_IS_BETTER


def test_the_training_value_is_the_endpoints_quality_tag_and_is_published_only_with_enough_labels():
    asl = states()["EachModel"]["ItemProcessor"]["States"]

    assert asl["Tags"]["ResultSelector"] == {"training.$": f"$.Tags[?(@.Key == '{QUALITY_VALUE_TAG}')].Value"}
    judged = asl["Judgeable"]["Choices"][0]
    assert judged["And"][0] == {"Variable": "$.labelled", "NumericGreaterThanEqualsPath": "$.min_labelled"}
    assert judged["Next"] == "PublishJudged" and asl["Judgeable"]["Default"] == "PublishLive"
    names = {d["MetricName"] for d in asl["PublishJudged"]["Parameters"]["MetricData"]}
    assert names == {"LabelledReadings", "LiveQuality", "TrainingQuality", "QualityDirection"}
    assert {d["MetricName"] for d in asl["PublishLive"]["Parameters"]["MetricData"]} == {
        "LabelledReadings",
        "LiveQuality",
    }
    assert machine()["DefinitionSubstitutions"]["QualityMinLabelled"] == Tag("Ref", "QualityMinLabelled")
    assert load_template()["Parameters"]["QualityMinLabelled"]["Default"] == "200"


def test_the_monitor_and_the_endpoint_alarms_share_one_namespace_and_the_margin_parameter():
    alarms = resources()["EndpointAlarmsFunction"]["Properties"]["Environment"]["Variables"]

    assert machine()["DefinitionSubstitutions"]["QualityNamespace"] == NAMESPACE
    assert alarms["QUALITY_NAMESPACE"] == NAMESPACE
    assert alarms["QUALITY_MARGIN"] == Tag("Ref", "QualityMargin")
    assert load_template()["Parameters"]["QualityMargin"]["Default"] == 0.05


def test_the_monitors_iam_reaches_its_work_group_tables_objects_endpoints_and_namespace_only():
    allowed = policy()

    assert allowed["QueryInTheLakesWorkGroup"]["Resource"] == Tag(
        "Sub", "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:workgroup/${AthenaWorkGroup}"
    )
    assert all(
        r.value.endswith(("catalog", "${LakeDatabase}", "${LakeDatabase}/*"))
        for r in allowed["ReadTheLakesTables"]["Resource"]
    )
    assert set(allowed["ReadTheLakesTables"]["Action"]) <= {
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:GetTables",
        "glue:GetPartition",
        "glue:GetPartitions",
    }
    assert [str(getattr(r, "value", r)) for r in allowed["ReadTheLake"]["Resource"][1:]] == [
        "${LakeBucket.Arn}/predictions/*",
        "${LakeBucket.Arn}/outcomes/*",
    ]
    assert not any(a.startswith("s3:Put") for a in allowed["ReadTheLake"]["Action"])
    assert allowed["WriteQueryResults"]["Resource"][1] == Tag("Sub", "${AthenaResultsBucket.Arn}/results/*")
    assert allowed["ReadEndpointTags"]["Resource"] == Tag(
        "Sub", "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${EndpointPrefix}*"
    )
    assert allowed["PublishQuality"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}
    assert machine()["Logging"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"] == Tag(
        "GetAtt", "MonitorLogGroup.Arn"
    )


def test_drift_runs_each_endpoints_own_query_from_the_artifacts_bucket_and_publishes_its_worst_psi():
    from nrt.ops.deploy import drift_key

    drift = drift_states()
    text = drift["EachEndpoint"]["ItemProcessor"]["States"]
    read = text["DriftQueryText"]

    assert drift["Endpoints"]["Parameters"]["NameContains"] == "${EndpointPrefix}"
    # every page of endpoints: the next is read while listEndpoints answers a NextToken
    assert drift["EachEndpoint"]["ItemsPath"] == "$.page.Endpoints" and drift["EachEndpoint"]["Next"] == "MoreEndpoints"
    assert drift["MoreEndpoints"]["Choices"][0]["Variable"] == "$.page.NextToken"
    assert drift["NextEndpoints"]["Parameters"]["NextToken.$"] == "$.page.NextToken"
    assert drift["NextEndpoints"]["Next"] == "EachEndpoint"
    assert read["Parameters"]["Key.$"] == "States.Format('monitor/{}/drift.sql', $.endpoint)"
    assert drift_key("nrt-shop") == "monitor/nrt-shop/drift.sql"
    assert text["FindDriftQuery"]["Parameters"]["Prefix.$"] == read["Parameters"]["Key.$"]
    assert text["HasDriftQuery"]["Default"] == "NoProfile"  # no drift query: nothing to read, nothing failed
    assert text["DriftQuery"]["Parameters"]["WorkGroup"] == "${AthenaWorkGroup}"
    published = text["PublishDrift"]["Parameters"]
    assert published["Namespace"] == "${QualityNamespace}"
    assert [d["MetricName"] for d in published["MetricData"]] == ["WorstDriftPsi"]
    allowed = policy()
    assert allowed["ReadDriftQueries"]["Resource"] == Tag("Sub", "${ModelArtifactsBucket.Arn}/monitor/*")
    assert allowed["ReadDriftQueries"]["Action"] == "s3:GetObject"
    assert allowed["FindDriftQueries"]["Condition"] == {"StringLike": {"s3:prefix": "monitor/*"}}
