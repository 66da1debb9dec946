"""template.yaml is locked down and observable: IAM, encryption, checkov, X-Ray, alarms, dashboard."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from nrt.template import ROOT, Tag, load_template, resources

CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"

# Actions AWS documents as having no resource-level permissions, each with why it is needed.
LOG_DELIVERY = (
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
)  # fmt: skip
STAR_ALLOWED = {
    **dict.fromkeys(LOG_DELIVERY, "Step Functions' log delivery to CloudWatch Logs (vended logs) works on '*' only"),
    "xray:PutTraceSegments": "X-Ray tracing of the workflows",
    "xray:PutTelemetryRecords": "X-Ray tracing of the workflows",
    "sagemaker:ListEndpoints": "GET /models: the prefix rule filters what ListEndpoints returns",
    "ecr:GetAuthorizationToken": "SageMaker pulls the scikit-learn serving image",
    "cloudwatch:DescribeAlarms": "the endpoint-alarms function lists its own alarms by name prefix (read only)",
}


def allow_statements(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every Allow statement anywhere in the template's resources, with where it is."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("Effect") == "Allow" and "Action" in node:
            found.append((where, node))
        for key, value in node.items():
            found.extend(allow_statements(value, f"{where}.{key}" if where else str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(allow_statements(value, f"{where}[{i}]"))
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- IAM -------------------------------------------------------------------------------------


def test_the_scan_finds_the_statements_it_checks():
    assert len(allow_statements(resources())) >= 20


@pytest.mark.parametrize(("where", "statement"), allow_statements(resources()), ids=lambda v: str(v)[:60])
def test_no_allow_has_a_wildcard_action_or_an_unexplained_wildcard_resource(where, statement):
    actions = as_list(statement["Action"])
    assert not any("*" in str(a) for a in actions), where
    if "*" in as_list(statement.get("Resource")):
        unexplained = [a for a in actions if a not in STAR_ALLOWED]
        assert unexplained == [], f"{where}: {unexplained} on '*'"


# --- encryption at rest, TLS, retention ---------------------------------------------------------


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources().items() if v["Type"] == kind}


def test_every_table_every_stream_every_topic_and_every_bucket_is_encrypted_at_rest():
    for name, table in of_type("AWS::DynamoDB::Table").items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True, name
    for name, stream in of_type("AWS::Kinesis::Stream").items():
        assert stream["Properties"]["StreamEncryption"]["EncryptionType"] == "KMS", name
    for name, topic in of_type("AWS::SNS::Topic").items():
        assert topic["Properties"]["KmsMasterKeyId"], name
    buckets = of_type("AWS::S3::Bucket")
    assert len(buckets) >= 3
    for name, bucket in buckets.items():
        assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
        assert set(bucket["Properties"]["PublicAccessBlockConfiguration"].values()) == {True}, name


def test_the_delivery_stream_reads_the_encrypted_stream_and_writes_the_encrypted_lake():
    # With a Kinesis stream as its source, Firehose takes no encryption setting of its own: the
    # data is encrypted in the stream (KMS) and in the bucket (SSE), never at rest unencrypted.
    delivery = resources()["PredictionsDelivery"]["Properties"]
    assert delivery["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert delivery["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == Tag("GetAtt", "PredictionsStream.Arn")
    assert delivery["ExtendedS3DestinationConfiguration"]["BucketARN"] == Tag("GetAtt", "LakeBucket.Arn")


def test_every_bucket_has_a_tls_only_policy():
    policies = {p["Properties"]["Bucket"]: p for p in of_type("AWS::S3::BucketPolicy").values()}
    for name in of_type("AWS::S3::Bucket"):
        statements = policies[Tag("Ref", name)]["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        ), name


def test_every_log_group_has_retention():
    for name, group in of_type("AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] == Tag("Ref", "LogRetentionDays"), name


# --- checkov -----------------------------------------------------------------------------------


def checkov_skips() -> list[tuple[str, str, str]]:
    found = []
    for name, resource in resources().items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            found.append((name, skip["id"], skip.get("comment", "")))
    return found


def test_every_checkov_suppression_carries_a_written_reason():
    skips = checkov_skips()
    assert skips
    for name, check, comment in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", check), (name, check)
        assert len(comment.split()) >= 10, f"{name} skips {check} without a reason"


def test_checkov_finds_no_failed_check(tmp_path):
    assert CHECKOV.exists(), f"{CHECKOV} is missing: `make test` (or `make checkov`) installs it"
    # checkov leaves out a resource whose Condition is false with the parameters' defaults: the
    # template is checked with LatencyTier Enabled, so its function and log group are checked too.
    default = "Default: Disabled\n    AllowedValues: [Disabled, Enabled]"
    text = (ROOT / "template.yaml").read_text()
    assert text.count(default) == 1
    enabled = tmp_path / "template.yaml"
    enabled.write_text(text.replace(default, default.replace("Default: Disabled", "Default: Enabled")))
    done = subprocess.run(
        [str(CHECKOV), "-f", str(enabled), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = json.loads(done.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] >= 60
    skipped = {(c["check_id"], c["resource"].split(".")[-1]) for c in report["results"]["skipped_checks"]}
    assert skipped == {(check, name) for name, check, _ in checkov_skips()}


# --- tracing and structured logs -----------------------------------------------------------------


def test_x_ray_traces_the_api_the_workflows_and_every_function():
    template = load_template()
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    assert resources()["Api"]["Properties"]["TracingEnabled"] is True
    for name in ("InferenceStateMachine", "EventsStateMachine", "RetrainStateMachine"):
        assert resources()[name]["Properties"]["Tracing"] == {"Enabled": True}, name


@pytest.mark.parametrize(
    ("machine", "group"),
    [
        ("InferenceStateMachine", "InferenceLogGroup"),
        ("EventsStateMachine", "EventsLogGroup"),
        ("RetrainStateMachine", "RetrainLogGroup"),
    ],
)
def test_each_workflow_logs_to_its_own_group_under_vendedlogs_states(machine, group):
    logging = resources()[machine]["Properties"]["Logging"]
    name = resources()[group]["Properties"]["LogGroupName"]

    assert logging["Destinations"] == [{"CloudWatchLogsLogGroup": {"LogGroupArn": Tag("GetAtt", f"{group}.Arn")}}]
    assert logging["Level"] in {"ERROR", "ALL"}
    assert str(name.value).startswith("/aws/vendedlogs/states/${AWS::StackName}-")


def test_every_function_logs_and_measures_with_powertools():
    functions = of_type("AWS::Serverless::Function")
    zipped = {"ListModelsFunction", "FirehoseTransformFunction", "EndpointAlarmsFunction"}
    assert set(functions) == {*zipped, "PredictFunction"}
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "nrt-inference", name
        assert variables["POWERTOOLS_SERVICE_NAME"], name
        metadata = function.get("Metadata", {})
        folder = (
            ROOT / function["Properties"]["CodeUri"]
            if "CodeUri" in function["Properties"]
            else (ROOT / metadata["DockerContext"] / metadata["Dockerfile"]).parent
        )
        assert "aws-lambda-powertools==" in (folder / "requirements.txt").read_text(), name
        code = (folder / "app.py").read_text()
        assert "@metrics.log_metrics" in code and "@logger.inject_lambda_context" in code, name


# --- alarms and the dashboard ----------------------------------------------------------------------


def alarms() -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in of_type("AWS::CloudWatch::Alarm").items()}


def watched(alarm: dict[str, Any]) -> set[str]:
    """The metric names an alarm reads, directly, through math or in a Metrics Insights query."""
    names = {alarm["MetricName"]} if "MetricName" in alarm else set()
    for query in alarm.get("Metrics", []):
        if "MetricStat" in query:
            names.add(query["MetricStat"]["Metric"]["MetricName"])
        names.update(re.findall(r"\((\w+)\) FROM", query.get("Expression", "")))
    return names


@pytest.mark.parametrize(
    ("signal", "metrics"),
    [
        ("API 5xx rate", {"5XXError"}),
        ("API 4xx rate", {"4XXError"}),
        ("p99 latency", {"Latency"}),
        ("failed executions", {"ExecutionsFailed"}),
        ("model errors", {"InvocationModelErrors"}),
        ("cold starts", {"ModelSetupTime"}),
        ("throttles", {"ExecutionThrottled", "WriteThrottleEvents"}),
        ("lake freshness", {"DeliveryToS3.DataFreshness"}),
        ("records to the error prefix", {"RecordsFailed", "FailedConversion.Records"}),
        ("failure-store growth", {"SuccessfulRequestLatency"}),
    ],
)
def test_an_alarm_watches(signal, metrics):
    from functions.endpoint_alarms.app import Settings, alarms_for

    # The models' alarms are made per endpoint by the endpoint-alarms function.
    per_endpoint = alarms_for("nrt-x", Settings("nrt-", "stack-endpoint-", "", 10))
    assert any(metrics <= watched(alarm) for alarm in [*alarms().values(), *per_endpoint]), signal


def test_every_alarm_notifies_the_topic_parameter_and_treats_no_data_as_fine():
    assert load_template()["Parameters"]["AlarmTopicArn"]["Default"] == ""
    notify = Tag("If", ["WithAlarmTopic", [Tag("Ref", "AlarmTopicArn")], Tag("Ref", "AWS::NoValue")])
    for name, alarm in alarms().items():
        assert alarm["AlarmActions"] == notify, name
        assert alarm["OKActions"] == notify, name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_the_latency_alarm_is_p99_against_the_target_parameter():
    latency = alarms()["ApiLatencyAlarm"]
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", Tag("Ref", "LatencyTargetMs"))


def test_the_failure_store_alarm_counts_failures_recorded():
    growth = alarms()["FailureStoreGrowthAlarm"]
    # DynamoDB's CloudWatch metrics: SuccessfulRequestLatency's SampleCount is the number of
    # successful requests, per TableName and Operation. ConsumedWriteCapacityUnits would count
    # capacity units (several for a record over 1 KB, which carries the whole request), the
    # deletes of nrt failures replay, and an idle table's zero samples.
    assert growth["Namespace"] == "AWS/DynamoDB"
    assert (growth["MetricName"], growth["Statistic"]) == ("SuccessfulRequestLatency", "SampleCount")
    assert growth["Dimensions"] == [
        {"Name": "TableName", "Value": Tag("Ref", "FailuresTable")},
        {"Name": "Operation", "Value": "PutItem"},
    ]


def _nodes(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_nodes(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_nodes(value))
    return found


def test_the_workflows_record_a_failure_with_one_put_item_each():
    # What the alarm counts is what records a failure: PutItem, never BatchWriteItem or UpdateItem.
    for machine in ("inference", "retrain"):
        states = json.loads((ROOT / f"statemachine/{machine}.asl.json").read_text())
        writes = {
            node["Resource"]
            for node in _nodes(states)
            if isinstance(node.get("Parameters"), dict) and node["Parameters"].get("TableName") == "${FailuresTable}"
        }
        assert writes <= {"arn:aws:states:::dynamodb:putItem"}, machine
        assert writes or machine == "retrain"


def test_the_dashboard_is_json_and_shows_every_alarm():
    body, variables = resources()["OperationsDashboard"]["Properties"]["DashboardBody"].value
    assert set(variables) == {"ApiName"}
    placeholders = set(re.findall(r"\$\{([^}]+)\}", body))
    dashboard = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: "1" if m.group(1) == "LatencyTargetMs" else "x", body))
    shown = next(w for w in dashboard["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
    assert len(shown) == len(alarms())
    assert {f"{name}.Arn" for name in alarms()} <= placeholders
    assert {w["properties"]["title"] for w in dashboard["widgets"] if w["type"] == "metric"} >= {
        "API latency (ms)",
        "Models: errors and cold starts",
        "Lake: freshness (s) and error records",
    }


def test_the_event_id_claims_expire_on_the_attribute_the_workflow_writes():
    # DynamoDB TTL: the table names one Number attribute holding epoch seconds; an item without
    # it never expires. The claim (ClaimEventId) is the only write to the table.
    ttl = resources()["EventIdsTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    puts = [
        node
        for node in _nodes(json.loads((ROOT / "statemachine/inference.asl.json").read_text()))
        if isinstance(node.get("Parameters"), dict) and node["Parameters"].get("TableName") == "${EventIdsTable}"
    ]
    assert len(puts) == 1 and puts[0]["Resource"] == "arn:aws:states:::dynamodb:putItem"
    assert set(puts[0]["Parameters"]["Item"]["expires_at"]) == {"N.$"}
    assert "365 days" in (ROOT / "docs/aws.md").read_text()
