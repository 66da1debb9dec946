"""End to end, as a new user with their own data would go: `nrt up`, then models of every kind
trained on CSV files (text categories, missing values) or brought as a notebook's pickled
Pipeline, deployed by prefix, fed named features by the producer and curl, and found typed
in the answer, the table, the lake, `nrt query` and the dashboard."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmarks.stack import Stack, child_processes, nrt_up
from tests.e2e.test_local_stack import request
from tests.helpers import ROOT
from tests.workflow.test_deploy import notebook_pickle
from training.examples import cancer_csv, diabetes_csv, shop_csv, wine_csv

NRT = [sys.executable, "-m", "nrt.cli"]


def nrt(stack: Stack, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NRT, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def local(stack: Stack) -> list[str]:
    return ["--local", "--aws-port", str(stack.aws_port), "--state-dir", str(stack.state)]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder: Path = tmp_path_factory.mktemp("data")
    for make in (cancer_csv, wine_csv, diabetes_csv):
        make(folder)
    shop_csv(folder, "spend")
    shop_csv(folder, "big")
    notebook_pickle(folder, "plain")  # wine, as a Pipeline pickled in a notebook: folder/plain.pkl
    notebook_pickle(folder, "main")  # the same with a class defined in the notebook: folder/main.pkl
    return folder


@pytest.fixture(scope="module")
def stack(data: Path) -> Iterator[Stack]:
    with nrt_up("--flush-seconds", "1") as running:
        state = ["--state-dir", str(running.state)]
        trainings = [
            ["train", "spend", "--csv", str(data / "shop-spend.csv"), "--label", "spend", *state],
            ["train", "cancer", "--csv", str(data / "cancer.csv"), "--label", "diagnosis", *state],
            ["train", "big", "--csv", str(data / "shop-big.csv"), "--label", "big", *state],
            ["train", "cultivar", "--csv", str(data / "wine.csv"), "--label", "cultivar", *state],
            ["train", "diabetes", "--csv", str(data / "diabetes.csv"), "--label", "target", *state],
        ]
        # Side by side, as a team would run them: the commands share nothing but the stack.
        with ThreadPoolExecutor(max_workers=3) as pool:
            for done in pool.map(lambda args: nrt(running, *args), trainings):
                assert done.returncode == 0, done.stderr
            deployments = [
                ["deploy-model", name, *local(running)] for name in ("spend", "cancer", "big", "cultivar", "diabetes")
            ] + [["deploy-model", "wine", "--model-file", str(data / "plain.pkl"), *local(running)]]
            for done in pool.map(lambda args: nrt(running, *args), deployments):
                assert done.returncode == 0, done.stdout + done.stderr
        # deploy-model returns once the model answers: every model is available at once.
        names = ("spend", "cancer", "big", "cultivar", "diabetes", "wine")
        assert all(models(running)[n]["available"] for n in names)
        yield running


def models(stack: Stack) -> dict[str, dict[str, Any]]:
    return {m["model"]: m for m in request(f"{stack.url}/models")[1]["models"]}


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


def curl(stack: Stack, body: dict[str, Any]) -> tuple[int, Any]:
    done = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", "-H", "Content-Type: application/json", "--data-binary",
         json.dumps(body), f"{stack.url}/predictions"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    text, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(text)


def test_every_kind_is_listed_with_its_features_and_served_within_seconds(stack):
    found = wait_for(
        lambda: (m := models(stack)) and all(m.get(n, {}).get("available") for n in ("spend", "cancer", "wine")) and m
    )

    assert (found["spend"]["kind"], found["spend"]["features"]) == ("regression", ["channel", "basket", "member"])
    assert (found["cancer"]["kind"], found["cancer"]["feature_count"]) == ("binary", 30)
    assert found["cancer"]["features"][:2] == ["mean_radius", "mean_texture"]
    assert found["wine"]["kind"] == "multiclass" and found["wine"]["features"][0] == "alcohol"
    listed = nrt(stack, "models", "--url", stack.url)
    assert listed.returncode == 0 and "regression" in listed.stdout and "channel, basket, member" in listed.stdout


def test_curl_gets_a_label_for_a_multiclass_model_brought_from_a_notebook_and_it_is_right(stack, data):
    frame = pd.read_csv(data / "wine.csv")
    names = {0: "barolo", 1: "grignolino", 2: "barbera"}
    rows = frame.sample(30, random_state=1)
    right = 0
    for i, (_, row) in enumerate(rows.iterrows()):
        features = {k.replace("/", "_"): float(v) for k, v in row.drop("cultivar").items()}
        status, answer = curl(stack, {"sensor": "cellar-1", "model": "wine", "timestamp": 1_780_000_000_000 + i,
                                      "features": features})  # fmt: skip
        assert status == 200, answer
        assert set(answer["probabilities"]) == set(names.values())
        right += answer["prediction"] == names[int(row["cultivar"].removeprefix("class_"))]
    assert right / len(rows) >= 0.9


def test_the_producer_sends_named_features_from_a_csv_for_each_kind_and_every_reading_is_answered(stack, data):
    for model, csv, label in (
        ("spend", "shop-spend.csv", "spend"),
        ("cancer", "cancer.csv", "diagnosis"),
        ("cultivar", "wine.csv", "cultivar"),
        ("diabetes", "diabetes.csv", "target"),
    ):
        done = subprocess.run(
            [sys.executable, "producer/producer.py", "--url", stack.url, "--model", model, "--csv", str(data / csv),
             "--drop", label, "--count", "40", "--rate", "0", "--sensors", "4", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        summary = json.loads(done.stdout)
        assert done.returncode == 0, done.stderr
        assert summary["by_status"] == {"200": 40}, (model, summary)


def test_a_reading_that_does_not_fit_the_signature_is_a_400_naming_the_feature(stack):
    status, answer = curl(
        stack,
        {"sensor": "till-1", "model": "spend", "timestamp": 1_780_000_100_000,
         "features": {"channel": "mall", "basket": 2, "member": "no"}},
    )  # fmt: skip

    assert status == 400
    assert "feature 'channel'" in answer["message"] and "app, store, web" in answer["message"]


def test_one_reading_scored_by_two_models_is_stored_and_in_the_lake_once_per_model(stack):
    features = {"channel": "web", "basket": 3, "member": "yes"}
    reading = {"sensor": "till-2", "timestamp": 1_780_000_200_000, "features": features}

    spend = curl(stack, {**reading, "model": "spend"})
    big = curl(stack, {**reading, "model": "big"})  # the same reading, another model: its own item, not a 409
    spend_again = curl(stack, {**reading, "model": "spend"})

    assert spend[0] == big[0] == spend_again[0] == 200
    assert isinstance(spend[1]["prediction"], float) and big[1]["prediction"] in ("yes", "no")
    assert (big[1]["duplicate"], spend_again[1]["duplicate"]) == (False, True)
    pairs = wait_for(lambda: [r for r in compared(stack) if (r["model_a"], r["model_b"]) == ("big", "spend")])
    assert pairs and pairs[0]["shared_readings"] >= 1


def compared(stack: Stack) -> list[dict[str, Any]]:
    """athena/model_comparison.sql over the local lake, through nrt query."""
    done = nrt(stack, "query", str(ROOT / "athena/model_comparison.sql"), "--format", "json", "--lake",
               str(stack.state / "lake"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_the_lake_and_nrt_query_hold_every_kind_typed(stack):
    sql = (
        "SELECT model, kind, count(*) AS n, count(label) AS labels, count(value) AS values_, "
        "round(avg(value), 2) AS mean_value FROM prediction_events GROUP BY 1, 2 ORDER BY 1"
    )

    def query() -> dict[str, dict[str, Any]] | None:
        done = nrt(stack, "query", "-e", sql, "--format", "json", "--lake", str(stack.state / "lake"))
        assert done.returncode == 0, done.stderr
        rows = {r["model"]: r for r in json.loads(done.stdout)}
        ready = {"spend", "cancer", "wine", "cultivar", "diabetes"} <= set(rows) and rows["spend"]["n"] >= 41
        ready = ready and rows["wine"]["n"] >= 30 and rows["cultivar"]["n"] >= 40 and rows["diabetes"]["n"] >= 40
        return rows if ready else None

    rows = wait_for(query, timeout=60)

    assert rows is not None, "the lake did not fill"
    assert (rows["spend"]["kind"], rows["spend"]["labels"], rows["spend"]["values_"]) == ("regression", 0, 41)
    assert rows["spend"]["mean_value"] > 0
    assert (rows["cancer"]["kind"], rows["cancer"]["labels"], rows["cancer"]["values_"]) == ("binary", 40, 0)
    assert (rows["wine"]["kind"], rows["wine"]["values_"]) == ("multiclass", 0)
    assert (rows["cultivar"]["kind"], rows["cultivar"]["labels"]) == ("multiclass", 40)
    assert (rows["diabetes"]["kind"], rows["diabetes"]["values_"]) == ("regression", 40)
    rates = nrt(stack, "query", str(ROOT / "athena/label_rate_per_minute.sql"), "--format", "json", "--lake",
                str(stack.state / "lake"))  # fmt: skip
    assert {r["label"] for r in json.loads(rates.stdout) if r["model"] == "cancer"} <= {"benign", "malignant"}


def test_the_dashboard_charts_classifiers_by_label_and_regressors_by_value(stack):
    page = request_text(f"{stack.url}/dashboard")

    data = json.loads(page.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0])
    assert {r["model"] for r in data["charts"]["label_rate"]["rows"]} >= {"cancer", "wine", "cultivar"}
    assert {r["model"] for r in data["charts"]["value"]["rows"]} >= {"spend", "diabetes"}


def request_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as resp:
        text: str = resp.read().decode()
        return text


def test_a_model_made_by_other_tools_that_cannot_load_is_failed_with_its_reason_and_not_restarted(stack, data):
    import boto3

    from nrt.emulator.server import local_model_bucket, local_sagemaker_role
    from nrt.template import LocalContext

    ctx = LocalContext()
    url = f"http://127.0.0.1:{stack.aws_port}"
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=ctx.region)
    s3, sm = session.client("s3", endpoint_url=url), session.client("sagemaker", endpoint_url=url)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(data / "main.pkl", arcname="model.joblib")
        tar.add(ROOT / "training" / "inference.py", arcname="code/inference.py")
    bucket = local_model_bucket(ctx)
    s3.put_object(Bucket=bucket, Key="byhand/model.tar.gz", Body=archive.getvalue())
    sm.create_model(
        ModelName="byhand", ExecutionRoleArn=local_sagemaker_role(ctx),
        PrimaryContainer={"Image": "sklearn", "ModelDataUrl": f"s3://{bucket}/byhand/model.tar.gz"},
    )  # fmt: skip
    serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    variant = {"VariantName": "AllTraffic", "ModelName": "byhand", "ServerlessConfig": serverless}
    sm.create_endpoint_config(EndpointConfigName="byhand", ProductionVariants=[variant])
    sm.create_endpoint(EndpointName="nrt-byhand", EndpointConfigName="byhand")

    failed = wait_for(lambda: sm.describe_endpoint(EndpointName="nrt-byhand")["EndpointStatus"] == "Failed")
    hosts = model_hosts(stack)
    seen: set[int] = set()
    deadline = time.monotonic() + 3  # three supervisor rounds: a loop would start the host again
    while time.monotonic() < deadline:
        seen |= model_hosts(stack)
        time.sleep(0.1)

    assert failed
    assert "Clip" in sm.describe_endpoint(EndpointName="nrt-byhand")["FailureReason"]
    listed = models(stack)["byhand"]
    assert listed["available"] is False and "Clip" in listed["reason"]
    assert seen <= hosts


def model_hosts(stack: Stack) -> set[int]:
    return {pid for pid, module in child_processes(stack.process.pid).items() if module == "nrt.hosts.host"}


def test_models_that_cannot_be_served_are_refused_by_the_cli_and_nothing_is_deployed(stack, data, tmp_path):
    from unittest import mock

    import joblib
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    x, y = load_diabetes(return_X_y=True)
    with mock.patch("sklearn.base.__version__", "1.4.0"):
        joblib.dump(Ridge().fit(x, y), tmp_path / "old.joblib")

    notebook = nrt(stack, "deploy-model", "clip", "--model-file", str(data / "main.pkl"), *local(stack))
    old = nrt(stack, "deploy-model", "old", "--model-file", str(tmp_path / "old.joblib"), *local(stack))

    assert notebook.returncode == 1 and "defined in the notebook" in notebook.stderr
    assert old.returncode == 1 and "scikit-learn 1.4.0" in old.stderr and "scikit-learn 1.9" in old.stderr
    assert not {"clip", "old"} & set(models(stack))


def test_retraining_a_regression_model_keeps_its_kind_and_it_keeps_answering_numbers(stack):
    done = nrt(stack, "retrain", "spend", "--local", "--aws-port", str(stack.aws_port), timeout=600)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "new rmse" in done.stdout
    assert wait_for(lambda: models(stack)["spend"]["available"])
    assert models(stack)["spend"]["kind"] == "regression"
    status, answer = curl(
        stack,
        {"sensor": "till-9", "model": "spend", "timestamp": 1_780_000_300_000,
         "features": {"channel": "app", "basket": 2, "member": "no"}},
    )  # fmt: skip
    assert status == 200 and isinstance(answer["prediction"], float)


def test_retraining_a_model_brought_from_a_notebook_is_refused_and_it_keeps_serving(stack):
    done = nrt(stack, "retrain", "wine", "--local", "--aws-port", str(stack.aws_port), timeout=300)

    assert done.returncode == 1
    assert "NoRecipe" in done.stderr
    assert models(stack)["wine"]["available"] and models(stack)["wine"]["kind"] == "multiclass"


def test_a_skops_file_is_deployed_through_the_cli_once_its_untrusted_type_is_named(stack, tmp_path):
    from tests.workflow.test_deploy import skops_file

    path = skops_file(tmp_path, with_function=True)

    refused = nrt(stack, "deploy-model", "negated", "--model-file", str(path), *local(stack))
    deployed = nrt(stack, "deploy-model", "negated", "--model-file", str(path), "--trust", "_operator.neg",
                   *local(stack))  # fmt: skip

    assert refused.returncode == 1 and "--trust _operator.neg" in refused.stderr
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert wait_for(lambda: models(stack).get("negated", {}).get("available"))
    assert models(stack)["negated"]["kind"] == "regression"


def test_the_user_guides_curl_command_is_answered_by_a_model_trained_on_the_example_orders(stack):
    import shlex

    readme = (ROOT / "docs" / "user-guide.md").read_text()
    [line] = [x for x in readme.splitlines() if x.startswith("curl ") and "/predictions" in x and '"spend"' in x]
    argv = [arg.replace("http://127.0.0.1:3000", stack.url) for arg in shlex.split(line)]

    done = subprocess.run([*argv, "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=60)

    text, _, status = done.stdout.rpartition("\n")
    answer = json.loads(text)
    assert status == "200", answer
    assert answer["model"] == "spend" and answer["kind"] == "regression" and isinstance(answer["prediction"], float)
