"""The pre-deploy check knows what SageMaker's scikit-learn image has; `--code` may bring only what a model needs."""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from nrt.cli.models import take_code
from training import check, inference
from training.check import IMAGE_PACKAGES, Refused, check_image_has, modules_pickled
from training.package import package

OUTSIDE = "outside_gbm"  # a library of this test's own, outside the image, whatever is installed here


@pytest.fixture
def outside_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """A fitted estimator whose class lives in a package on the path here and not in the image."""
    library = tmp_path / "site" / OUTSIDE
    library.mkdir(parents=True)
    (library / "__init__.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n\n\nclass Booster(LogisticRegression):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, OUTSIDE, raising=False)
    booster = __import__(OUTSIDE).Booster()
    return booster.fit(np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.5], [1.0, 0.2]]), np.array([0, 1, 0, 1]))


def test_the_image_list_says_where_it_was_read_and_has_the_scientific_stack():
    listed = json.loads(IMAGE_PACKAGES.read_text())

    assert listed["source"].startswith("https://github.com/aws/sagemaker-scikit-learn-container/")
    assert listed["image"] == "sagemaker-scikit-learn:1.9-0-cpu-py3"
    assert listed["distributions"]["scikit-learn"]["version"].startswith(check.SERVING_SKLEARN + ".")
    assert {"sklearn", "numpy", "pandas", "scipy", "joblib"} <= check.image_modules()


def test_given_the_template_image_when_read_then_the_list_is_of_that_version():
    template = (Path(__file__).parents[2] / "template.yaml").read_text()

    assert json.loads(IMAGE_PACKAGES.read_text())["image"] in template


def test_given_a_scikit_learn_model_when_checked_then_the_image_has_all_it_needs(tmp_path: Path):
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), np.array([0, 1]))

    assert {module.split(".")[0] for module in modules_pickled(model)} <= check.image_modules() | {"builtins"}
    check_image_has(model, tmp_path)


def test_given_a_model_from_a_library_outside_the_image_when_checked_then_refused_naming_it_and_the_fix(
    tmp_path: Path, outside_model: object
):
    assert OUTSIDE in modules_pickled(outside_model)
    with pytest.raises(Refused) as refused:
        check_image_has(outside_model, tmp_path)

    assert f"needs the library '{OUTSIDE}'" in str(refused.value)
    assert "requirements.txt" in str(refused.value)
    assert "--code DIR" in str(refused.value)


def test_given_a_model_file_from_a_library_outside_the_image_when_deployed_then_the_check_refuses_it(
    tmp_path: Path, outside_model: object, capsys: pytest.CaptureFixture[str]
):
    joblib.dump(outside_model, tmp_path / "model.joblib")

    code = check.main([str(tmp_path / "model"), "--from-file", str(tmp_path / "model.joblib")])

    reply = json.loads(capsys.readouterr().out)
    assert code == 1
    assert reply["ok"] is False
    assert f"needs the library '{OUTSIDE}', which SageMaker's scikit-learn 1.9 image does not have" in reply["reason"]
    assert not (tmp_path / "model").exists()


def test_given_the_library_in_requirements_or_shipped_when_checked_then_accepted(tmp_path: Path, outside_model: object):
    (tmp_path / "required" / "code").mkdir(parents=True)
    (tmp_path / "required" / "code" / "requirements.txt").write_text(f"{OUTSIDE.replace('_', '-')}==1.0\n")
    (tmp_path / "shipped" / "code").mkdir(parents=True)
    (tmp_path / "shipped" / "code" / f"{OUTSIDE}.py").write_text("")

    check_image_has(outside_model, tmp_path / "required")
    check_image_has(outside_model, tmp_path / "shipped")


def test_given_code_with_only_requirements_when_packaged_then_the_projects_serving_code_goes_with_it(tmp_path: Path):
    model_dir = tmp_path / "models" / "gbm"
    model_dir.mkdir(parents=True)
    (model_dir / inference.ARTIFACT).write_bytes(b"artifact")
    (model_dir / inference.SIGNATURE).write_text("{}")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "requirements.txt").write_text("lightgbm==4.6.0\n")

    take_code("gbm", mine, model_dir)
    with tarfile.open(package(model_dir, tmp_path / "model.tar.gz")) as tar:
        names = set(tar.getnames())
        served = tar.extractfile("code/inference.py")
        assert served is not None
        entry = served.read()

    assert {"code/inference.py", "code/requirements.txt"} <= names
    assert entry == Path(inference.__file__).read_bytes()
    assert not (model_dir / "code" / "inference.py").exists()  # the project's stays the project's, not a copy
