"""training/: the data, the evaluation report, the model card and the SageMaker package."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from training.dataset import DatasetError, check_trainable, load_csv, synthetic
from training.package import package, unpack
from training.train import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models") / "pump"
    train(directory, rows=4000, seed=3)
    return directory


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_csv_with_the_same_columns_loads(tmp_path):
    path = write_csv(tmp_path / "r.csv", "a,b,c,label\n12,87,20,1\n50,52,49,0\n")

    x, y = load_csv(path)

    assert x.tolist() == [[12.0, 87.0, 20.0], [50.0, 52.0, 49.0]]
    assert y.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,label\n1,2,0\n", "missing column(s) c"),
        ("a,b,c,label\n1,x,3,0\n", "r.csv:2: a, b and c must be numbers"),
        ("a,b,c,label\n1,2,3,0\n1,2,nan,1\n", "r.csv:3: a, b and c must be finite"),
        ("a,b,c,label\n1,2,3,yes\n", "r.csv:2: label must be 0 or 1"),
    ],
)
def test_a_bad_csv_is_refused_naming_the_line_and_rule(tmp_path, text, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_csv(write_csv(tmp_path / "r.csv", text))


def test_data_a_classifier_cannot_learn_from_is_refused():
    with pytest.raises(DatasetError, match="no rows"):
        check_trainable(np.array([], dtype=np.int64), "x")
    with pytest.raises(DatasetError, match="one class \\(non-failures\\)"):
        check_trainable(np.zeros(100, dtype=np.int64), "x")
    with pytest.raises(DatasetError, match="fewer than 5"):
        check_trainable(np.array([0] * 100 + [1] * 3), "x")


def test_training_on_a_single_class_csv_fails_clearly_and_writes_nothing(tmp_path):
    path = write_csv(tmp_path / "r.csv", "a,b,c,label\n" + "1,2,3,0\n" * 50)

    with pytest.raises(DatasetError, match="every row is one class"):
        train(tmp_path / "model", csv=path)
    assert not (tmp_path / "model").exists()


def test_label_noise_flips_the_asked_share_of_labels():
    _, clean = synthetic(20_000, seed=5)
    _, noisy = synthetic(20_000, seed=5, noise=0.1)

    assert 0.08 < float((clean != noisy).mean()) < 0.12


def test_the_evaluation_report_holds_every_metric_and_agrees_with_its_confusion_matrix(trained):
    report = json.loads((trained / "evaluation.json").read_text())
    cm = report["confusion_matrix"]

    assert report["roc_auc"] >= 0.97
    assert cm["tn"] + cm["fp"] + cm["fn"] + cm["tp"] == report["test_rows"] == 800
    assert report["precision"] == pytest.approx(cm["tp"] / (cm["tp"] + cm["fp"]), abs=1e-4)
    assert report["recall"] == pytest.approx(cm["tp"] / (cm["tp"] + cm["fn"]), abs=1e-4)
    assert 0.05 < report["positive_rate"] < 0.5
    assert report["data"] == {
        "source": "synthetic: the seeds' failure rule",
        "rows": 4000,
        "seed": 3,
        "label_noise": 0.0,
    }


def test_the_roc_curve_is_a_png(trained):
    data = (trained / "roc_curve.png").read_bytes()

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5000


def test_the_model_card_says_what_the_model_is_and_how_to_call_it(trained):
    card = json.loads((trained / "model_card.json").read_text())

    assert card["name"] == "pump"
    assert card["features"] == ["a", "b", "c"]
    assert card["evaluation"]["roc_auc"] == json.loads((trained / "evaluation.json").read_text())["roc_auc"]
    assert card["framework"]["scikit-learn"]
    assert card["serving"]["request"] == {"instances": [[12, 87, 20]]}


def test_training_on_a_csv_records_its_source(tmp_path):
    x, y = synthetic(600, seed=2)
    rows = "".join(f"{a},{b},{c},{label}\n" for (a, b, c), label in zip(x.tolist(), y.tolist(), strict=True))
    path = write_csv(tmp_path / "mine.csv", "a,b,c,label\n" + rows)

    train(tmp_path / "model", csv=path)

    data = json.loads((tmp_path / "model" / "evaluation.json").read_text())["data"]
    assert (data["source"], data["rows"], len(data["sha256"])) == (str(path), 600, 64)


def test_the_package_is_laid_out_as_sagemaker_expects(trained, tmp_path):
    archive = package(trained, tmp_path / "model.tar.gz")

    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"model.joblib", "code/inference.py", "model_card.json", "evaluation.json"} <= names
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
