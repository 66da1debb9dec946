"""The real statemachine/retrain.asl.json on the embedded AWS: its Prepare processing job checks
fresh CSV files against the serving model's contract and prepares the data the training job fits."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from nrt.emulator.server import EmbeddedAws
from tests.helpers import ROOT
from tests.helpers.aws_cli import AWS, cli_env
from tests.workflow import test_retrain
from tests.workflow.test_retrain import deploy, retrain, serving

inbox = test_retrain.inbox  # the fixture: an SQS queue subscribed to the retraining notifications

BUCKET = "nrt-local-model-artifacts"


@pytest.fixture(scope="module")
def sugar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regression model trained here on load_diabetes with a year column (numbers, no gaps)."""
    from training.train import Recipe, train

    folder: Path = tmp_path_factory.mktemp("sugar")
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["year"] = 2000 + np.arange(len(frame)) % 20
    frame.to_csv(folder / "diabetes.csv", index=False)
    train(folder / "model", Recipe(str(folder / "diabetes.csv"), "target", None, "regression"))
    return folder / "model"


def put_fresh(aws: EmbeddedAws, name: str, text: str) -> None:
    aws.client("s3").put_object(Bucket=BUCKET, Key=f"data/{name}/fresh.csv", Body=text.encode())


def artifact(aws: EmbeddedAws, variant: dict[str, Any]) -> dict[str, bytes]:
    model = aws.client("sagemaker").describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
    key = model["ModelDataUrl"].removeprefix(f"s3://{BUCKET}/")
    archive = aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_given_a_fresh_csv_that_fits_the_contract_when_retrained_then_it_is_prepared_merged_and_promoted(
    aws, sugar, inbox
):
    endpoint = deploy(aws, "prep-good", sugar, serving_metric="1000")
    fresh = pd.read_csv(sugar.parent / "diabetes.csv").head(60)
    put_fresh(aws, "prep-good", fresh.to_csv(index=False))

    result = retrain(aws, "prep-good")

    assert result["status"] == "SUCCEEDED", (result.get("error"), result.get("cause"))
    config, variant, _ = serving(aws, endpoint)
    manifest = json.loads(
        aws.client("s3").get_object(Bucket=BUCKET, Key=f"prepared/{config}/manifest.json")["Body"].read()
    )
    assert [s["file"] for s in manifest["sources"]] == [
        f"s3://{BUCKET}/data/prep-good/diabetes.csv",
        f"s3://{BUCKET}/data/prep-good/fresh.csv",
    ]
    steps = {s["rule"]: s["rows_in"] - s["rows_out"] for s in manifest["steps"]}
    assert manifest["rows_in"] == 442 + 60 and steps["duplicates"] == 60  # the fresh rows repeat old ones
    files = artifact(aws, variant)
    recipe = json.loads(files["signature.json"])["recipe"]
    assert recipe["source"] == f"s3://{BUCKET}/data/prep-good/" and recipe["sources"] == manifest["sources"]
    assert "rows" not in recipe and "noise" not in recipe
    card = json.loads(files["model_card.json"])
    assert card["preparation"]["version"] == manifest["preparation_version"]
    assert card["preparation"]["dropped"]["duplicates"] == 60
    assert json.loads(files["preparation.json"]) == manifest
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: model retrained and deployed"


def test_given_a_one_row_three_column_csv_when_retrained_then_the_processing_job_refuses_it_naming_file_and_column(
    aws, sugar, inbox
):
    # The case: merged, this file made `year` nullable and the model was promoted.
    endpoint = deploy(aws, "prep-bad", sugar, serving_metric="1000")
    before = serving(aws, endpoint)
    put_fresh(aws, "prep-bad", "age,sex,target\n50,1,120\n")

    result = retrain(aws, "prep-bad")

    assert (result["status"], result.get("error")) == ("FAILED", "DataRefused")
    assert result["cause"].startswith("preparation refused: fresh.csv: column 'bmi': missing: the model takes it")
    assert "fresh.csv: bmi, bp, s1, s2, s3, s4, s5, s6, year" in result["cause"]
    assert serving(aws, endpoint) == before
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retraining refused the data"
    assert "fresh.csv: column 'bmi'" in note["Message"]


def test_a_processing_job_runs_here_and_a_failed_one_reports_its_exit_message(aws, sugar):
    deploy(aws, "prep-job", sugar, serving_metric="1000")
    put_fresh(aws, "prep-job", "age,sex,target\n50,1,120\n")

    result = retrain(aws, "prep-job")

    history = aws.client("stepfunctions").get_execution_history(executionArn=result["executionArn"], maxResults=1000)
    [started] = [
        json.loads(e["taskScheduledEventDetails"]["parameters"])
        for e in history["events"]
        if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "sagemaker"
    ]
    job = aws.client("sagemaker").describe_processing_job(ProcessingJobName=started["ProcessingJobName"])
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["ExitMessage"].startswith("preparation refused: fresh.csv: column 'bmi'")
    assert job["FailureReason"].startswith("AlgorithmError: preparation refused: fresh.csv")


def test_with_contract_change_the_file_is_merged_into_a_new_version_and_the_notification_says_what_changed(
    aws, sugar, inbox
):
    endpoint = deploy(aws, "prep-change", sugar, serving_metric="1000")
    put_fresh(aws, "prep-change", "age,sex,target\n50,1,120\n")
    result = retrain(aws, "prep-change", contract_change=True)

    assert result["status"] == "SUCCEEDED", (result.get("error"), result.get("cause"))
    output = json.loads(result["output"])
    key = output["candidate"]["model_data"].removeprefix(f"s3://{BUCKET}/")
    with tarfile.open(fileobj=io.BytesIO(aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())) as tar:
        signature = json.loads(tar.extractfile("signature.json").read())  # type: ignore[union-attr]
    features = {f["name"]: f for f in signature["features"]}
    assert features["year"]["nullable"] is True  # the new version's contract: the change, made on purpose
    change, judged = inbox()
    assert change["Subject"] == "nrt-inference: retraining changes the model's contract"
    assert "fresh.csv: column 'year': missing: the model takes it" in change["Message"]
    # The gate then judges it as any candidate, beside the serving model on the same held-out rows.
    assert output["decision"] == "rejected" and output["gate"]["candidate"] > output["gate"]["serving"]
    assert judged["Subject"] == "nrt-inference: retrained model rejected by the quality gate"
    assert serving(aws, endpoint)[0].startswith("nrt-prep-change-2")  # the deployed version still serves


def test_nrt_retrain_prints_the_refusal_and_with_contract_change_makes_the_new_version(aws, sugar, tmp_path, capsys):
    from nrt.cli import main

    endpoint = deploy(aws, "prep-cli", sugar, serving_metric="1000")
    put_fresh(aws, "prep-cli", "age,sex,target\n50,1,120\n")
    command = ["retrain", "prep-cli", "--local", "--aws-port", str(aws.port), "--state-dir", str(tmp_path)]

    refused = main(command)

    assert refused == 1
    err = capsys.readouterr().err
    assert "FAILED: DataRefused: preparation refused: fresh.csv: column 'bmi': missing: the model takes it" in err

    changed = main([*command, "--contract-change"])

    assert changed == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "  Prepare\n" in out and "  NotifyContractChange\n" in out and "  Train\n" in out
    # the changed version is trained, then judged beside the serving model on the same rows
    assert "rejected by the quality gate: new rmse" in out and "on the same 89 held-out rows" in out
    # what the preparation did, the contract change it accepted, and that no tuning job ran
    assert "prepared: 443 rows in from 2 files; 354 to fit, 89 held out (seeded (7)); dropped: none\n" in out
    assert "contract changes accepted (--contract-change), 9:\n  fresh.csv: column 'bmi': missing" in out
    assert "tuning: off (one training job)\n" in out
    assert serving(aws, endpoint)[0].startswith("nrt-prep-cli-2")


@pytest.fixture(scope="module")
def sparse_sugar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regression model trained on the first 40 rows of load_diabetes (with a year column,
    never empty), too few to learn much: the rest of the rows, their year unknown, make a
    genuinely better model."""
    from training.train import Recipe, train

    folder: Path = tmp_path_factory.mktemp("sparse-sugar")
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["year"] = 2000 + np.arange(len(frame)) % 20
    frame.head(40).to_csv(folder / "diabetes.csv", index=False)
    frame.iloc[40:].assign(year=np.nan).to_csv(folder / "unknown-year.csv", index=False)
    train(folder / "model", Recipe(str(folder / "diabetes.csv"), "target", None, "regression"))
    return folder / "model"


def served_features(aws: EmbeddedAws, endpoint: str) -> dict[str, Any]:
    files = artifact(aws, serving(aws, endpoint)[1])
    return {f["name"]: f for f in json.loads(files["signature.json"])["features"]}


def test_given_a_promoted_contract_change_when_retrained_again_then_the_served_contract_accepts_the_same_kind_of_csv(
    aws, sparse_sugar, inbox
):
    endpoint = deploy(aws, "prep-lasts", sparse_sugar, serving_metric="1000")
    unknown = pd.read_csv(sparse_sugar.parent / "unknown-year.csv")
    put_fresh(aws, "prep-lasts", unknown.iloc[:200].to_csv(index=False))
    assert served_features(aws, endpoint)["year"]["nullable"] is False

    changed = retrain(aws, "prep-lasts", contract_change=True)

    assert changed["status"] == "SUCCEEDED", (changed.get("error"), changed.get("cause"))
    output = json.loads(changed["output"])
    assert output["decision"] == "promoted", output["gate"]  # more rows, genuinely better on the same hold-out
    assert served_features(aws, endpoint)["year"]["nullable"] is True
    # the recipe folder's signature.json (written at deploy) still says year is never empty
    recipe_copy = aws.client("s3").get_object(Bucket=BUCKET, Key="data/prep-lasts/signature.json")["Body"].read()
    assert {f["name"]: f for f in json.loads(recipe_copy)["features"]}["year"]["nullable"] is False
    aws.client("s3").put_object(
        Bucket=BUCKET, Key="data/prep-lasts/fresher.csv", Body=unknown.iloc[200:].to_csv(index=False).encode()
    )

    plain = retrain(aws, "prep-lasts")

    assert plain["status"] == "SUCCEEDED", (plain.get("error"), plain.get("cause"))
    again = json.loads(plain["output"])
    assert again["preparation"]["manifest"]["contract_changes"] == []  # checked against the served contract
    assert again["preparation"]["manifest"]["rows_in"] == 40 + 200 + len(unknown) - 200
    subjects = [n["Subject"] for n in inbox()]
    assert subjects[:2] == [
        "nrt-inference: retraining changes the model's contract",
        "nrt-inference: model retrained and deployed",
    ]


def test_given_a_rejected_contract_change_when_retrained_again_then_the_old_served_contract_still_refuses_it(
    aws, sugar, inbox
):
    endpoint = deploy(aws, "prep-stays", sugar, serving_metric="1000")
    fresh = pd.read_csv(sugar.parent / "diabetes.csv").head(3).assign(year=np.nan, age=[18, 19, 20])
    put_fresh(aws, "prep-stays", fresh.to_csv(index=False))

    changed = retrain(aws, "prep-stays", contract_change=True)

    assert json.loads(changed["output"])["decision"] == "rejected"  # the serving model saw most hold-out rows
    assert served_features(aws, endpoint)["year"]["nullable"] is False

    plain = retrain(aws, "prep-stays")

    assert (plain["status"], plain.get("error")) == ("FAILED", "DataRefused")
    assert "fresh.csv: column 'year': 3 empty values; the model takes none" in plain["cause"]


def guide_fresh_data_lines() -> list[str]:
    """The `aws` lines of the user guide's "Add fresh data" block, comments cut."""
    guide = (ROOT / "docs" / "user-guide.md").read_text()
    block = guide.split("#### Add fresh data", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.startswith("aws ")]


def test_the_guides_aws_cli_lines_put_a_fresh_csv_where_the_next_retraining_merges_it(aws, sugar, tmp_path):
    deploy(aws, "prep-guide", sugar, serving_metric="1000")
    (tmp_path / "fresh.csv").write_text(pd.read_csv(sugar.parent / "diabetes.csv").tail(40).to_csv(index=False))
    listed, copied = guide_fresh_data_lines()
    env = cli_env(tmp_path, AWS_DEFAULT_REGION=aws.ctx.region, AWS_ENDPOINT_URL=aws.url)

    def run(line: str) -> str:
        argv = [AWS if a == "aws" else a for a in shlex.split(line.replace("/data/spend/", "/data/prep-guide/"))]
        done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    before = run(listed)
    run(copied)

    assert "diabetes.csv" in before and "signature.json" in before and "fresh.csv" not in before
    assert "fresh.csv" in run(listed)
    result = retrain(aws, "prep-guide")
    assert result["status"] == "SUCCEEDED", (result.get("error"), result.get("cause"))
    manifest = json.loads(result["output"])["preparation"]["manifest"]
    assert f"s3://{BUCKET}/data/prep-guide/fresh.csv" in [s["file"] for s in manifest["sources"]]
    assert manifest["rows_in"] == 442 + 40
