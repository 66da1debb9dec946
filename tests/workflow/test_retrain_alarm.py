"""The real statemachine/retrain.asl.json started by a quality or drift alarm (the RetrainOnAlarm
rule's input: CloudWatch's alarm state change event as AWS sends it): one retraining of the
alarm's model, named after it and the hour, and none while one for that model runs."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from nrt.emulator.server import RETRAIN_STATE_MACHINE, EmbeddedAws
from tests.helpers import load_event
from tests.workflow.test_retrain import deploy, finished


def alarm(model: str, time: str = "2026-12-06T06:04:40Z", kind: str = "quality") -> dict[str, Any]:
    """The alarm state change event of the model's quality (or drift) alarm entering ALARM."""
    event: dict[str, Any] = copy.deepcopy(load_event("cloudwatch_alarm_quality.json"))
    event["time"] = time
    event["detail"]["alarmName"] = f"nrt-inference-endpoint-nrt-{model}-{kind}"
    for metric in event["detail"]["configuration"]["metrics"]:
        if "metricStat" in metric:
            metric["metricStat"]["metric"]["dimensions"] = {"Model": model}
    return event


def start(aws: EmbeddedAws, body: dict[str, Any]) -> str:
    sfn = aws.client("stepfunctions")
    arn: str = sfn.start_execution(
        stateMachineArn=aws.ctx.refs[RETRAIN_STATE_MACHINE], name=uuid.uuid4().hex, input=json.dumps(body)
    )["executionArn"]
    return arn


def retrainings(aws: EmbeddedAws, model: str) -> list[dict[str, Any]]:
    """The executions started for the model's alarms (named <model>-alarm-<hour>)."""
    sfn = aws.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=aws.ctx.refs[RETRAIN_STATE_MACHINE], maxResults=1000)["executions"]
    return [e for e in listed if e["name"].startswith(f"{model}-alarm-")]


@pytest.fixture(autouse=True)
def no_retraining_left_running(aws: EmbeddedAws) -> Iterator[None]:
    """The retrainings these tests start are stopped once each test is done: the embedded AWS is
    shared by the worker's other test files, whose endpoints (a model named cancer) they would
    otherwise go on to retrain."""
    yield
    sfn = aws.client("stepfunctions")
    arn = aws.ctx.refs[RETRAIN_STATE_MACHINE]
    for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1000)["executions"]:
        if "-alarm-" in execution["name"]:
            sfn.stop_execution(executionArn=execution["executionArn"], error="TestDone", cause="the test has ended")


class Held(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.running = threading.Event()  # a preparation job is waiting


@pytest.fixture
def held(aws: EmbeddedAws) -> Iterator[Held]:
    """Every preparation job waits until the event is set (a retraining stays running), then fails."""
    release = Held()
    before = aws.wiring.processing_runner

    def waiting(*args: Any) -> Any:
        release.running.set()
        release.wait(60)
        raise RuntimeError("released by the test")

    aws.wiring.processing_runner = waiting
    yield release
    release.set()
    aws.wiring.processing_runner = before


def test_given_a_quality_alarm_then_one_retraining_of_its_model_starts_named_after_the_model_and_hour(aws):
    result = finished(aws, start(aws, alarm("alarmed")))

    assert result["status"] == "SUCCEEDED", result
    [started] = retrainings(aws, "alarmed")
    assert started["name"] == "alarmed-alarm-2026-12-06T06"
    child = aws.client("stepfunctions").describe_execution(executionArn=started["executionArn"])
    assert json.loads(child["input"]) == {"model": "alarmed", "trigger": "nrt-inference-endpoint-nrt-alarmed-quality"}
    assert json.loads(result["output"])["started"]["execution"] == started["executionArn"]


def test_given_the_drift_alarm_in_the_same_hour_then_no_second_retraining_starts(aws):
    first = finished(aws, start(aws, alarm("twice")))
    [started] = retrainings(aws, "twice")
    finished(aws, started["executionArn"])  # ended (no such endpoint): only its name is left to collide with
    second = finished(aws, start(aws, alarm("twice", time="2026-12-06T06:59:00Z", kind="drift")))

    assert (first["status"], second["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert len(retrainings(aws, "twice")) == 1
    assert json.loads(second["output"])["failure"]["Error"] == "StepFunctions.ExecutionAlreadyExistsException"


def test_given_a_retraining_of_the_model_running_when_its_alarm_flaps_an_hour_later_then_none_starts(
    aws, model_dir, held
):
    deploy(aws, "busy", model_dir, serving_metric="0.5")
    running = start(aws, {"model": "busy"})  # nrt retrain busy, its preparation still running
    assert held.running.wait(30)

    result = finished(aws, start(aws, alarm("busy", time="2026-12-06T07:30:00Z")))

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["running"]["busy"] is True and "busy" in output["running"]["models"]
    assert retrainings(aws, "busy") == []
    assert aws.client("stepfunctions").describe_execution(executionArn=running)["status"] == "RUNNING"


def test_an_alarm_without_a_model_dimension_is_refused(aws):
    event = alarm("x")
    event["detail"]["configuration"]["metrics"] = [{"id": "e", "expression": "1", "returnData": True}]

    result = finished(aws, start(aws, event))

    assert (result["status"], result.get("error")) == ("FAILED", "NotAModelAlarm")


@pytest.fixture(scope="module")
def below(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The health line's verdicts on a lake whose model cancer scores far below its training F1."""
    from nrt.lake.quality import BELOW, QualityWatch
    from tests.helpers.outcome_lakes import three_labelled_models, write_labelled_lake

    root = tmp_path_factory.mktemp("state")
    write_labelled_lake(root / "lake", three_labelled_models())
    (root / "models" / "cancer").mkdir(parents=True)
    (root / "models" / "cancer" / "evaluation.json").write_text(json.dumps({"metrics": {"f1": 0.99}}))
    verdicts = QualityWatch(root / "lake", root / "models", min_labelled=50).report()
    assert [v["model"] for v in verdicts if v["state"] == BELOW] == ["cancer"]
    return verdicts


def local_rule(aws: EmbeddedAws, on: bool) -> Any:
    """The template's rule on the local stack, with RetrainOnAlarm as given."""
    from nrt.ops.alarms import AlarmRetraining

    ctx = dataclasses.replace(aws.ctx, parameters={**aws.ctx.parameters, "RetrainOnAlarm": str(on).lower()})
    return AlarmRetraining(aws.client("stepfunctions"), aws.ctx.refs[RETRAIN_STATE_MACHINE], ctx, log=lambda _: None)


def test_with_retrain_on_alarm_a_model_turning_below_training_starts_exactly_one_retraining(aws, below):
    rule = local_rule(aws, on=True)

    first = rule.note(below)
    again = rule.note(below)  # the next health tick: still below, the alarm stays in ALARM

    assert len(first) == 1 and again == []
    assert finished(aws, first[0])["status"] == "SUCCEEDED"
    [started] = retrainings(aws, "cancer")
    child = aws.client("stepfunctions").describe_execution(executionArn=started["executionArn"])
    assert json.loads(child["input"]) == {"model": "cancer", "trigger": "nrt-local-endpoint-nrt-cancer-quality"}


def test_without_retrain_on_alarm_no_verdict_starts_a_retraining(aws, below):
    sfn = aws.client("stepfunctions")
    before = sfn.list_executions(stateMachineArn=aws.ctx.refs[RETRAIN_STATE_MACHINE], maxResults=1000)["executions"]

    assert local_rule(aws, on=False).note(below) == []
    after = sfn.list_executions(stateMachineArn=aws.ctx.refs[RETRAIN_STATE_MACHINE], maxResults=1000)["executions"]
    assert after == before


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The worst drift, as `nrt up` measures it, of a model trained by nrt train on breast cancer
    whose recent readings are all of one diagnosis (every feature moved)."""
    from nrt.lake.athena import LocalAthena
    from nrt.lake.dashboard import worst_drift
    from tests.unit.test_drift import cancer, lake_of
    from training.examples import cancer_csv
    from training.train import Recipe, train

    state = tmp_path_factory.mktemp("state")
    train(state / "models" / "tumours", Recipe(str(cancer_csv(state)), "diagnosis", None, "binary"))
    data = cancer()
    lake_of(state / "lake", "tumours", data[data.target == 0].drop(columns="target"))
    worst = worst_drift(LocalAthena(state / "lake"), state / "models", ["tumours"])
    assert worst["tumours"]["psi"] > 0.25, worst
    return dict(worst)


def test_with_retrain_on_alarm_a_model_drifting_above_the_alarms_threshold_starts_one_retraining(aws, drifted):
    rule = local_rule(aws, on=True)

    first = rule.note_drift(drifted)
    again = rule.note_drift(drifted)  # still drifting: the alarm stays in ALARM
    calm = rule.note_drift({"tumours": {**drifted["tumours"], "psi": 0.05}})  # back to OK
    off = local_rule(aws, on=False).note_drift(drifted)

    assert len(first) == 1 and again == [] and calm == [] and off == []
    assert finished(aws, first[0])["status"] == "SUCCEEDED"
    [started] = retrainings(aws, "tumours")
    child = aws.client("stepfunctions").describe_execution(executionArn=started["executionArn"])
    assert json.loads(child["input"]) == {"model": "tumours", "trigger": "nrt-local-endpoint-nrt-tumours-drift"}
