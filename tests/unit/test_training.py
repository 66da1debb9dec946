"""training/: any tabular CSV, every kind's evaluation, the signature, the model card and the package."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from training.dataset import DatasetError, infer_kind, load_csv, synthetic
from training.examples import cancer_csv, diabetes_csv, shop_csv, wine_csv
from training.inference import SIGNATURE, Signature
from training.package import package, unpack
from training.train import EVALUATION, MODEL_CARD, PLOT, Recipe, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models") / "pump"
    train(directory, Recipe("synthetic", "label", None, "binary", rows=4000, seed=3))
    return directory


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_given_a_csv_every_column_but_the_label_is_a_feature(tmp_path):
    table = load_csv(cancer_csv(tmp_path), "diagnosis")

    assert len(table.x.columns) == 30
    assert "diagnosis" not in table.x.columns
    assert set(table.y) == {"benign", "malignant"}


def test_given_features_named_only_those_are_used(tmp_path):
    table = load_csv(cancer_csv(tmp_path), "diagnosis", ["mean_radius", "mean_texture"])

    assert list(table.x.columns) == ["mean_radius", "mean_texture"]


@pytest.mark.parametrize(
    ("label", "kind"),
    [("diagnosis", "binary"), ("cultivar", "multiclass"), ("target", "regression")],
)
def test_the_kind_is_inferred_from_the_label(tmp_path, label, kind):
    path = {"diagnosis": cancer_csv, "cultivar": wine_csv, "target": diabetes_csv}[label](tmp_path)

    assert infer_kind(load_csv(path, label).y) == kind


@pytest.mark.parametrize(
    ("text", "label", "message"),
    [
        ("a,b,label\n1,2,0\n", "outcome", "no column 'outcome' for the label; the columns are a, b, label"),
        ("a,b,label\n1,,0\n2,,1\n", "label", "column 'b' is empty in every row"),
        ("a,b,label\n1,2,0\n3,4,\n", "label", "r.csv:3: no value in the label column 'label'"),
        ("", "label", "the file is empty"),
        ('a,b,label\n1,"2,0\n', "label", "cannot be parsed as CSV"),
        ("mean radius,label\n1,0\n", "label", "column 'mean radius' cannot be a feature name"),
    ],
)
def test_a_bad_csv_is_refused_naming_the_file_row_and_column(tmp_path, text, label, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_csv(write_csv(tmp_path / "r.csv", text), label)


def test_an_unknown_feature_named_on_the_command_line_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="no column 'nope' \\(from --features\\)"):
        load_csv(write_csv(tmp_path / "r.csv", "a,b,label\n1,2,0\n"), "label", ["a", "nope"])


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("a,label\n" + "1,7\n" * 20, "regression", "the label 'label' is 7 in every row"),
        ("a,label\n" + "1,0\n" * 20 + "2,1\n" * 2, "binary", "label 1 has 2 rows"),
        ("a,label\n" + "1,x\n" * 20 + "2,y\n" * 20, "regression", "a regression label must be numbers"),
        ("a,label\n1,0\n2,1\n", "binary", "2 rows; at least 10"),
    ],
)
def test_data_the_kind_cannot_learn_from_is_refused_and_nothing_is_written(tmp_path, text, kind, message):
    path = write_csv(tmp_path / "r.csv", text)

    with pytest.raises(DatasetError, match=message):
        train(tmp_path / "model", Recipe(str(path), "label", None, kind))
    assert not (tmp_path / "model").exists()


def test_label_noise_flips_the_asked_share_of_labels():
    _, clean = synthetic(20_000, seed=5)
    _, noisy = synthetic(20_000, seed=5, noise=0.1)

    assert 0.08 < float((clean != noisy).mean()) < 0.12


def test_the_demo_model_keeps_its_three_positional_features_and_a_high_roc_auc(trained):
    signature = Signature.from_dict(json.loads((trained / SIGNATURE).read_text()))
    report = json.loads((trained / EVALUATION).read_text())

    assert (signature.kind, signature.feature_names, signature.labels) == ("binary", ["a", "b", "c"], [0, 1])
    assert signature.positive_label == 1 and not signature.named
    assert (report["metric"], report["higher_is_better"]) == ("roc_auc", True)
    assert report["value"] >= 0.97
    assert report["data"] == {"source": "synthetic", "rows": 4000, "seed": 3, "noise": 0.0}


def test_a_binary_model_on_30_real_features_reports_its_threshold_and_metrics(tmp_path):
    evaluation = train(tmp_path / "m", Recipe(str(cancer_csv(tmp_path)), "diagnosis", None, "binary"))
    metrics = evaluation.metrics
    matrix = metrics["confusion_matrix"]["rows_true_columns_predicted"]
    signature = Signature.from_dict(json.loads((tmp_path / "m" / SIGNATURE).read_text()))

    assert evaluation.value == metrics["roc_auc"] >= 0.95
    assert metrics["pr_auc"] >= 0.9 and metrics["f1"] >= 0.85
    assert signature.positive_label == "malignant" == metrics["positive_label"]
    assert 0 < signature.threshold == metrics["threshold"] < 1
    assert "maximises F1 over the training rows, each scored out of fold" in metrics["threshold_rule"]
    assert 0 < metrics["brier"] < 0.1  # the held-out probabilities read as frequencies
    assert sum(map(sum, matrix)) == evaluation.test_rows == 114
    assert metrics["confusion_matrix"]["labels"] == ["benign", "malignant"]


def test_a_threshold_set_by_hand_is_kept(tmp_path):
    evaluation = train(tmp_path / "m", Recipe(str(cancer_csv(tmp_path)), "diagnosis", None, "binary", threshold=0.3))

    assert (evaluation.metrics["threshold"], evaluation.metrics["threshold_rule"]) == (0.3, "set with --threshold")


def test_a_multiclass_model_reports_accuracy_macro_f1_and_each_class(tmp_path):
    evaluation = train(tmp_path / "m", Recipe(str(wine_csv(tmp_path)), "cultivar", None, "multiclass"))

    assert (evaluation.metric, evaluation.higher_is_better) == ("macro_f1", True)
    assert evaluation.metrics["accuracy"] >= 0.85 and evaluation.value >= 0.85
    assert sorted(evaluation.metrics["per_class"]) == ["class_0", "class_1", "class_2"]
    assert len(evaluation.metrics["confusion_matrix"]["rows_true_columns_predicted"]) == 3


def test_a_regression_model_reports_mae_rmse_and_r2_with_a_residual_plot(tmp_path):
    evaluation = train(tmp_path / "m", Recipe(str(diabetes_csv(tmp_path)), "target", None, "regression"))

    assert (evaluation.metric, evaluation.higher_is_better) == ("rmse", False)
    assert 0 < evaluation.metrics["mae"] < evaluation.metrics["rmse"] == evaluation.value < 80
    assert 0.2 < evaluation.metrics["r2"] < 1
    assert (tmp_path / "m" / PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_categories_and_missing_values_train_through_the_pipeline(tmp_path):
    path = shop_csv(tmp_path)
    evaluation = train(tmp_path / "m", Recipe(str(path), "spend", None, "regression"))
    signature = Signature.from_dict(json.loads((tmp_path / "m" / SIGNATURE).read_text()))
    by_name = {f.name: f for f in signature.features}

    assert signature.named
    assert (by_name["channel"].type, by_name["channel"].nullable) == ("category", True)
    assert by_name["channel"].categories == ["app", "store", "web"]
    assert (by_name["basket"].type, by_name["basket"].nullable) == ("number", True)
    assert evaluation.metrics["r2"] > 0.8


def test_the_signature_records_the_recipe_and_the_scikit_learn_version(tmp_path):
    path = wine_csv(tmp_path)
    train(tmp_path / "m", Recipe(str(path), "cultivar", None, "multiclass"))
    signature = json.loads((tmp_path / "m" / SIGNATURE).read_text())

    assert signature["recipe"]["source"] == str(path)
    assert (signature["recipe"]["label"], signature["recipe"]["task"]) == ("cultivar", "multiclass")
    assert signature["sklearn_version"].startswith("1.9")
    assert signature["labels"] == ["class_0", "class_1", "class_2"]


def test_the_model_card_says_what_the_model_is_its_metric_and_how_to_call_it(trained):
    card = json.loads((trained / MODEL_CARD).read_text())

    assert (card["name"], card["kind"]) == ("pump", "binary")
    assert [f["name"] for f in card["features"]] == ["a", "b", "c"]
    assert card["evaluation"]["gate_metric"] == "roc_auc"
    assert card["evaluation"]["roc_auc"] == json.loads((trained / EVALUATION).read_text())["value"]
    assert card["framework"]["scikit-learn"]
    assert card["serving"]["request"] == {"instances": [{"features": {"a": 0, "b": 0, "c": 0}}]}


def test_the_package_is_laid_out_as_sagemaker_expects(trained, tmp_path):
    archive = package(trained, tmp_path / "model.tar.gz")

    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"model.joblib", "signature.json", "code/inference.py", "model_card.json", "evaluation.json"} <= names
    served = unpack(archive, tmp_path / "opt-ml-model")
    assert (served / "model.joblib").read_bytes() == (trained / "model.joblib").read_bytes()


def test_packaging_an_untrained_model_says_to_train_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="nrt train"):
        package(tmp_path, tmp_path / "model.tar.gz")


def test_unpacking_refuses_paths_outside_the_model_directory(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))

    with pytest.raises(tarfile.TarError):
        unpack(archive, tmp_path / "model")
    assert not (tmp_path / "escaped.txt").exists()


def test_the_example_files_are_written_and_the_shipped_orders_csv_is_the_same_as_generated(tmp_path):
    from tests.helpers import ROOT
    from training.examples import main

    assert main([str(tmp_path)]) == 0

    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
        "cancer.csv",
        "diabetes.csv",
        "orders.csv",
        "transactions.csv",
        "wine.csv",
    ]
    assert (tmp_path / "orders.csv").read_text() == (ROOT / "examples" / "orders.csv").read_text()
    assert infer_kind(load_csv(tmp_path / "orders.csv", "spend", ["channel", "basket", "member"]).y) == "regression"
    assert infer_kind(load_csv(tmp_path / "orders.csv", "big", ["channel", "basket", "member"]).y) == "binary"


def test_feature_names_follow_the_apis_name_rule_from_the_template():
    from nrt.template import load_template
    from training.dataset import FEATURE_NAME
    from training.inference import MAX_FEATURES

    def schemas() -> dict:
        return load_template()["Resources"]["Api"]["Properties"]["DefinitionBody"]["components"]["schemas"]

    assert f"^{FEATURE_NAME.pattern}(?![\\s\\S])" == schemas()["Name"]["pattern"]
    # The API cannot check a feature's name (no patternProperties in OpenAPI 3.0); it bounds
    # their number by what training allows, and the model's signature check names the rest.
    assert schemas()["NamedFeatures"]["maxProperties"] == MAX_FEATURES


def test_nrt_train_uses_one_openmp_thread_unless_omp_num_threads_says_otherwise(monkeypatch):
    import contextlib

    import sklearn.ensemble  # noqa: F401 - loads scikit-learn's OpenMP runtime
    from threadpoolctl import threadpool_info

    from nrt.cli.models import one_openmp_thread

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert isinstance(one_openmp_thread(), contextlib.nullcontext)
    monkeypatch.delenv("OMP_NUM_THREADS")
    with one_openmp_thread():
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "openmp")
