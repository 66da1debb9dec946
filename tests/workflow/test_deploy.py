"""nrt/ops/deploy.py against the embedded AWS: the model, config and endpoint it makes."""

from __future__ import annotations

import time

import pytest

from nrt.hosts.artifacts import materialise, model_source
from nrt.ops.deploy import Instances, Serverless, deploy_model
from nrt.ops.target import DeployError, image_uri, local_target
from tests.helpers import SKLEARN_IMAGE as IMAGE


def deploy(aws, name, model_dir, capacity=None, **kwargs):
    target = local_target(aws.ctx, aws.prefix)
    return deploy_model(
        aws.client("sagemaker"),
        aws.client("s3"),
        name,
        model_dir,
        target,
        capacity or Serverless(memory_mb=3072, max_concurrency=10, provisioned_concurrency=2),
        IMAGE,
        log=lambda _: None,
        poll=0.01,
        **kwargs,
    )


def test_the_serving_image_is_the_scikit_learn_container_for_the_region():
    assert image_uri("us-east-1") == IMAGE
    assert image_uri("eu-west-1").startswith(
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0"
    )
    assert image_uri("cn-north-1").startswith("450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/")


@pytest.mark.parametrize("instance_type", ["ml.g5.xlarge", "ml.p3.2xlarge", "ml.inf1.xlarge", "ml.c7g.large"])
def test_an_instance_the_scikit_learn_image_does_not_run_on_is_refused_by_name(instance_type):
    with pytest.raises(DeployError, match=f"x86 CPU instances, not {instance_type}"):
        image_uri("us-east-1", instance_type)


def test_the_image_a_stack_was_deployed_with_is_the_one_its_models_get():
    mirror = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/mirror/sagemaker-scikit-learn:1.9-0-cpu-py3"

    assert image_uri("eu-west-1", "ml.m5.large", configured=mirror) == mirror
    assert image_uri("eu-west-1", configured="") == image_uri("eu-west-1")
    with pytest.raises(DeployError, match="x86 CPU instances"):
        image_uri("eu-west-1", "ml.g5.xlarge", configured=mirror)


def test_a_region_without_the_image_is_refused_naming_the_regions_that_have_it():
    with pytest.raises(DeployError, match="no scikit-learn serving image in 'mars-north-1'; regions: af-south-1"):
        image_uri("mars-north-1")


def test_a_deploy_creates_the_model_serverless_config_and_prefixed_endpoint(aws, model_dir):
    sm = aws.client("sagemaker")

    deployment = deploy(aws, "turbine", model_dir)

    assert (deployment.endpoint, deployment.created, deployment.status) == ("nrt-turbine", True, "InService")
    assert deployment.version.startswith("nrt-turbine-")
    endpoint = sm.describe_endpoint(EndpointName="nrt-turbine")
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    [variant] = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 10, "ProvisionedConcurrency": 2}
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert model["PrimaryContainer"]["ModelDataUrl"] == deployment.model_data_url
    assert model["ExecutionRoleArn"].endswith(":role/nrt-local-sagemaker")
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]}
    assert (tags["nrt:model"], tags["nrt:kind"], tags["nrt:features"]) == ("turbine", "binary", "a b c")
    # SageMaker's Tag.Value pattern ([\p{L}\p{Z}\p{N}_.:/=+\-@]*): no comma (moto does not check it).
    assert all(ch.isalnum() or ch.isspace() or ch in "_.:/=+-@" for value in tags.values() for ch in value), tags
    assert tags["nrt:feature_count"] == "3"
    assert tags["nrt:unknown_categories"] == "refuse"
    assert tags["nrt:metric"] == "roc_auc" and float(tags["nrt:metric_value"]) >= 0.97
    assert tags["nrt:recipe"] == f"s3://{local_target(aws.ctx, aws.prefix).bucket}/data/turbine/"


def test_the_uploaded_artifact_is_what_a_model_host_serves(aws, model_dir, tmp_path):
    deploy(aws, "turbine-art", model_dir)
    version, url = model_source(aws.client("sagemaker"), "nrt-turbine-art")

    served = materialise(aws, url, tmp_path / version)

    assert served is not None
    assert (served / "model.joblib").read_bytes() == (model_dir / "model.joblib").read_bytes()
    assert (served / "code" / "inference.py").exists()
    assert (served / "signature.json").read_text() == (model_dir / "signature.json").read_text()


def test_a_second_deploy_updates_the_same_endpoint_in_place(aws, model_dir):
    sm = aws.client("sagemaker")
    first = deploy(aws, "turbine-twice", model_dir)
    arn = sm.describe_endpoint(EndpointName="nrt-turbine-twice")["EndpointArn"]
    time.sleep(1.1)  # versions are stamped to the second

    second = deploy(aws, "turbine-twice", model_dir, capacity=Serverless(memory_mb=1024, max_concurrency=5))

    assert (second.created, second.status) == (False, "InService")
    assert second.version != first.version
    endpoint = sm.describe_endpoint(EndpointName="nrt-turbine-twice")
    assert endpoint["EndpointArn"] == arn
    assert endpoint["EndpointConfigName"] == second.version
    [variant] = sm.describe_endpoint_config(EndpointConfigName=second.version)["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 1024, "MaxConcurrency": 5}
    # The first version is still there, untouched: a rollback is one update_endpoint away.
    assert sm.describe_endpoint_config(EndpointConfigName=first.version)["EndpointConfigName"] == first.version


def test_an_instance_backed_deploy_uses_instances_instead_of_serverless(aws, model_dir):
    deployment = deploy(aws, "turbine-fast", model_dir, capacity=Instances("ml.m5.large", 2))

    [variant] = aws.client("sagemaker").describe_endpoint_config(EndpointConfigName=deployment.version)[
        "ProductionVariants"
    ]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 2)
    assert "ServerlessConfig" not in variant


@pytest.mark.parametrize(
    ("name", "capacity", "message"),
    [
        ("bad_name", Serverless(), "letters, digits and hyphens"),
        ("x" * 60, Serverless(), "fit SageMaker's 63"),
        ("ok", Serverless(memory_mb=1000), "--memory must be one of"),
        ("ok", Serverless(max_concurrency=500), "--max-concurrency"),
        ("ok", Serverless(max_concurrency=5, provisioned_concurrency=6), "--provisioned-concurrency"),
        ("ok", Instances("m5.large"), "--instance-type"),
    ],
)
def test_a_deploy_that_cannot_work_is_refused_before_anything_is_created(aws, model_dir, name, capacity, message):
    sm = aws.client("sagemaker")
    before = len(sm.list_models()["Models"])

    with pytest.raises(DeployError, match=message):
        deploy(aws, name, model_dir, capacity=capacity)

    assert len(sm.list_models()["Models"]) == before


# --- bringing a model from a notebook --------------------------------------------------------

NOTEBOOK = """
import pickle, sys
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

class Clip(BaseEstimator, TransformerMixin):  # defined in the notebook: its module is __main__
    def fit(self, x, y=None):
        return self
    def transform(self, x):
        return np.clip(x, -5, 5)

x, y = load_wine(return_X_y=True, as_frame=True)
x.columns = [c.replace("/", "_") for c in x.columns]
steps = [Clip(), StandardScaler(), LogisticRegression(max_iter=500)] if sys.argv[2] == "main" else [
    StandardScaler(), LogisticRegression(max_iter=500)]
model = make_pipeline(*steps).fit(x, y.map({0: "barolo", 1: "grignolino", 2: "barbera"}))
with open(sys.argv[1], "wb") as handle:
    pickle.dump(model, handle)
"""


def notebook_pickle(tmp_path, kind: str):
    import subprocess
    import sys

    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    target = tmp_path / f"{kind}.pkl"
    subprocess.run([sys.executable, str(script), str(target), kind], check=True, cwd=tmp_path)
    return target


def test_a_pickled_pipeline_from_a_notebook_is_deployed_with_the_signature_it_carries(aws, tmp_path):
    from nrt.ops.deploy import check_model
    from training.inference import load_signature

    folder = tmp_path / "wine-nb"
    check_model(folder, notebook_pickle(tmp_path, "plain"))
    deployment = deploy(aws, "wine-nb", folder)
    signature = load_signature(folder, None)

    assert deployment.status == "InService"
    assert (signature.kind, len(signature.features), signature.named) == ("multiclass", 13, True)
    assert signature.labels == ["barbera", "barolo", "grignolino"]
    assert signature.sklearn_version.startswith("1.9")
    assert signature.recipe is None  # brought, not trained here: nothing to retrain it from
    tags = {
        t["Key"]: t["Value"]
        for t in aws.client("sagemaker").list_tags(
            ResourceArn=aws.client("sagemaker").describe_endpoint(EndpointName="nrt-wine-nb")["EndpointArn"]
        )["Tags"]
    }
    assert tags["nrt:kind"] == "multiclass" and "nrt:recipe" not in tags


def test_a_pickle_whose_class_lives_in_the_notebooks_main_is_refused_and_nothing_is_deployed(aws, tmp_path):
    from nrt.ops.deploy import check_model

    with pytest.raises(DeployError, match=r"class defined in the notebook or script.*--code DIR"):
        check_model(tmp_path / "clip", notebook_pickle(tmp_path, "main"))
    assert not (tmp_path / "clip").exists()


def test_a_model_fitted_with_another_scikit_learn_is_refused_naming_both_versions(aws, tmp_path):
    from unittest import mock

    import joblib
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    from nrt.ops.deploy import check_model

    x, y = load_diabetes(return_X_y=True)
    with mock.patch("sklearn.base.__version__", "1.5.2"):
        joblib.dump(Ridge().fit(x, y), tmp_path / "old.joblib")

    with pytest.raises(DeployError, match=r"fitted with scikit-learn 1\.5\.2; the serving image has scikit-learn 1\.9"):
        check_model(tmp_path / "old", tmp_path / "old.joblib")


def test_a_file_that_is_not_a_model_is_refused(aws, tmp_path):
    import pickle

    from nrt.ops.deploy import check_model

    (tmp_path / "numbers.pkl").write_bytes(pickle.dumps([1, 2, 3]))

    with pytest.raises(DeployError, match="holds a list, not a fitted estimator"):
        check_model(tmp_path / "numbers", tmp_path / "numbers.pkl")


# --- your own serving code (--code DIR) ----------------------------------------------------------


def code_model(tmp_path, code: str, requirements: str | None = None):
    """A model directory as nrt deploy-model --model-file ... --code DIR leaves it."""
    import joblib
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    joblib.dump(Ridge().fit(x, y), tmp_path / "ridge.joblib")
    folder = tmp_path / "ridge"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "inference.py").write_text(code)
    if requirements is not None:
        (folder / "code" / "requirements.txt").write_text(requirements)
    return folder


def test_your_own_serving_code_is_checked_packaged_and_served(aws, tmp_path):
    from nrt.ops.deploy import check_model
    from tests.unit.test_container import CHAINED

    folder = code_model(tmp_path, CHAINED, requirements="scikit-learn\n")
    check_model(folder, tmp_path / "ridge.joblib", ["--task=regression"])
    deployment = deploy(aws, "ridge-code", folder)
    _, url = model_source(aws.client("sagemaker"), "nrt-ridge-code")
    served = materialise(aws, url, tmp_path / "served")

    assert deployment.status == "InService"
    assert served is not None
    assert (served / "code" / "inference.py").read_text() == CHAINED
    assert (served / "code" / "requirements.txt").exists()


@pytest.mark.parametrize(
    ("change", "requirements", "message"),
    [
        (("probabilities", "chances"), None, "this one lacks probabilities"),
        (("def model_fn", "def load_model"), None, "has no model_fn"),
        (("return model.predict(rows)", "raise KeyError('carat')"), None, r"refused a sample reading .*\(500\)"),
        (("", ""), "no-such-package-here==1.0\n", "needs 'no-such-package-here', which is not installed here"),
    ],
)
def test_serving_code_the_workflow_cannot_use_is_refused_before_a_deploy(aws, tmp_path, change, requirements, message):
    from nrt.ops.deploy import check_model
    from tests.unit.test_container import CHAINED

    folder = code_model(tmp_path, CHAINED.replace(*change), requirements)

    with pytest.raises(DeployError, match=message):
        check_model(folder, tmp_path / "ridge.joblib", ["--task=regression"])


# --- a safer format than pickle: skops ---------------------------------------------------------


def skops_file(tmp_path, with_function: bool):
    import operator

    import skops.io as sio
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    first = FunctionTransformer(operator.neg) if with_function else StandardScaler()
    path = tmp_path / ("fn.skops" if with_function else "plain.skops")
    sio.dump(make_pipeline(first, Ridge()).fit(x, y), path)
    return path


def test_a_skops_file_is_loaded_without_running_code_and_deployed(aws, tmp_path):
    from nrt.ops.deploy import check_model
    from training.inference import load_signature

    check_model(tmp_path / "plain", skops_file(tmp_path, with_function=False))
    deployment = deploy(aws, "skops-plain", tmp_path / "plain")

    assert deployment.status == "InService"
    assert load_signature(tmp_path / "plain", None).kind == "regression"


def test_a_skops_file_with_a_type_skops_does_not_trust_needs_it_named(aws, tmp_path):
    from nrt.ops.deploy import check_model

    path = skops_file(tmp_path, with_function=True)

    with pytest.raises(DeployError, match=r"types skops does not trust by default: _operator\.neg.*--trust"):
        check_model(tmp_path / "fn", path)
    check_model(tmp_path / "fn", path, ["--trust=_operator.neg"])


def test_a_pickle_that_needs_a_library_the_image_lacks_is_refused_naming_it(aws, tmp_path):
    import subprocess
    import sys

    from nrt.ops.deploy import check_model

    (tmp_path / "featurekit.py").write_text(
        "import numpy as np\nfrom sklearn.base import BaseEstimator, TransformerMixin\n"
        "class Square(BaseEstimator, TransformerMixin):\n"
        "    def fit(self, x, y=None):\n        return self\n"
        "    def transform(self, x):\n        return np.asarray(x, dtype=float) ** 2\n"
    )
    script = (
        "import pickle, sys\nfrom sklearn.datasets import load_diabetes\nfrom sklearn.linear_model import Ridge\n"
        "from sklearn.pipeline import make_pipeline\nfrom featurekit import Square\n"
        "x, y = load_diabetes(return_X_y=True)\n"
        "pickle.dump(make_pipeline(Square(), Ridge()).fit(x, y), open(sys.argv[1], 'wb'))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "kit.pkl")], check=True, cwd=tmp_path)

    with pytest.raises(DeployError, match=r"needs the library 'featurekit'.*requirements\.txt.*--code DIR"):
        check_model(tmp_path / "kit", tmp_path / "kit.pkl")
    # Shipped with the model's own serving code, the module loads, as in the container.
    from tests.unit.test_container import CHAINED

    (tmp_path / "kit" / "code").mkdir(parents=True)
    (tmp_path / "kit" / "code" / "inference.py").write_text(CHAINED)
    (tmp_path / "kit" / "code" / "featurekit.py").write_text((tmp_path / "featurekit.py").read_text())
    with pytest.raises(DeployError, match=r"does not say which features it takes.*--sample CSV"):
        check_model(tmp_path / "kit", tmp_path / "kit.pkl", ["--task=regression"])
    (tmp_path / "kit" / "code").mkdir(parents=True)  # the refusal removed what the check had made
    (tmp_path / "kit" / "code" / "inference.py").write_text(CHAINED)
    (tmp_path / "kit" / "code" / "featurekit.py").write_text((tmp_path / "featurekit.py").read_text())
    sample = tmp_path / "sample.csv"
    load_diabetes_frame().to_csv(sample, index=False)
    check_model(tmp_path / "kit", tmp_path / "kit.pkl", ["--task=regression", f"--sample={sample}"])


def load_diabetes_frame():
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).data


def test_nrt_image_uri_prints_the_image_or_says_why_there_is_none(capsys):
    from nrt.cli import main

    assert main(["image-uri", "--region", "eu-west-1"]) == 0
    assert capsys.readouterr().out.startswith("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:")
    assert main(["image-uri", "--region", "eu-west-1", "--instance-type", "ml.g5.xlarge"]) == 1
    assert "x86 CPU instances, not ml.g5.xlarge" in capsys.readouterr().err


def test_a_deploy_whose_model_cannot_load_fails_with_the_load_error_and_a_failed_update_keeps_the_old(
    aws, model_dir, monkeypatch
):
    # The runtime's start, as `nrt up` wires it: this one cannot load the second version.
    versions: list[str] = []

    def start(endpoint: str, model: str, url: str) -> str:
        versions.append(model)
        if len(versions) > 1:
            raise RuntimeError("ModuleNotFoundError: No module named 'xgboost'")
        return "http://127.0.0.1:9"

    monkeypatch.setattr(aws.wiring, "host_start", start)
    first = deploy(aws, "loadcheck", model_dir)
    with pytest.raises(DeployError) as failed:
        deploy(aws, "loadcheck", model_dir)

    assert first.status == "InService"
    described = aws.client("sagemaker").describe_endpoint(EndpointName=first.endpoint)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", first.version)
    assert str(failed.value) == (
        f"{first.endpoint} could not switch to {versions[1]}: ModuleNotFoundError: No module named 'xgboost'; "
        f"it still serves {first.version}"
    )

    def cannot_load(endpoint: str, model: str, url: str) -> str:
        raise RuntimeError("bad pickle")

    monkeypatch.setattr(aws.wiring, "host_start", cannot_load)
    with pytest.raises(DeployError, match="nrt-unloadable is Failed: bad pickle"):
        deploy(aws, "unloadable", model_dir)
