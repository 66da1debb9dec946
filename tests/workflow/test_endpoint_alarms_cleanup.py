"""functions/endpoint_alarms on the embedded AWS's CloudWatch: when the stack goes (its custom
resource's Delete), every alarm the function made goes, and only those."""

from __future__ import annotations

from functions.endpoint_alarms.app import Settings, on_stack_event, reconcile


def test_the_stacks_delete_leaves_no_endpoint_alarm_behind(aws, model_host):
    model_host("outlived")
    settings = Settings(aws.prefix, "nrt-gone-endpoint-", "", 5)
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="nrt-kept-alarm",
        Metrics=[{"Id": "m", "Expression": "SELECT SUM(x) FROM y", "Period": 300}],
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    reconcile(aws.client("sagemaker"), cloudwatch, settings)
    assert cloudwatch.describe_alarms(AlarmNamePrefix="nrt-gone-endpoint-")["MetricAlarms"]
    event = {
        "RequestType": "Delete",
        "ResponseURL": "https://unused.example",
        "StackId": "stack",
        "RequestId": "r",
        "LogicalResourceId": "EndpointAlarms",
        "PhysicalResourceId": "nrt-gone-endpoint-",
        "ResourceProperties": {"AlarmPrefix": "nrt-gone-endpoint-"},
    }

    answer = on_stack_event(event, aws.client("sagemaker"), cloudwatch, settings)

    assert answer["Status"] == "SUCCESS"
    assert cloudwatch.describe_alarms(AlarmNamePrefix="nrt-gone-endpoint-")["MetricAlarms"] == []
    assert cloudwatch.describe_alarms(AlarmNames=["nrt-kept-alarm"])["MetricAlarms"]
    cloudwatch.delete_alarms(AlarmNames=["nrt-kept-alarm"])
