"""A model saved without signature.json (deployed by the SageMaker SDK or any tool but nrt): its
signature derived from the fitted estimator (feature names, the encoders' text categories,
nullability where it scores a missing value, labels, the unknown-categories policy its encoders
follow), or a refusal that names signature.json and shows its form. And `--sample`'s refusals."""

from __future__ import annotations

import json
import operator
import re
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from training import check, inference
from training.examples import shop_csv, shop_frame
from training.train import Recipe, train

WINE = ["alcohol", "malic_acid", "color_intensity", "proline"]


def penguins_like(rows: int = 178) -> tuple[pd.DataFrame, pd.Series]:
    """Wine's measurements with a text category (its island, mostly following the cultivar) and gaps."""
    data = load_wine(as_frame=True)
    rng = np.random.default_rng(0)
    islands = np.array(["Biscoe", "Dream", "Torgersen"])
    x = data.frame[WINE].copy()
    x["island"] = np.where(rng.random(len(x)) < 0.8, islands[data.target], rng.choice(islands, len(x)))
    x["island"] = x["island"].mask(rng.random(len(x)) < 0.1)
    x["alcohol"] = x["alcohol"].mask(rng.random(len(x)) < 0.1)
    species = pd.Series(np.array(["Adelie", "Chinstrap", "Gentoo"])[data.target], name="species")
    return x.head(rows), species.head(rows)


def one_hot_pipeline(handle_unknown: str = "ignore") -> Pipeline:
    numbers = make_pipeline(SimpleImputer(), StandardScaler())
    text = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown=handle_unknown))
    encode = ColumnTransformer(
        [
            ("numbers", numbers, make_column_selector(dtype_include="number")),
            ("text", text, make_column_selector(dtype_exclude="number")),
        ]
    )
    return make_pipeline(encode, LogisticRegression(max_iter=2000))


def served_without_signature(tmp_path: Path, estimator: Any) -> inference.Model:
    """What the serving container loads from a model.tar.gz with model.joblib and no signature.json."""
    joblib.dump(estimator, tmp_path / inference.ARTIFACT)
    return inference.model_fn(str(tmp_path))


def call(model: inference.Model, payload: Any) -> tuple[int, Any]:
    reply = inference.transform_fn(model, json.dumps(payload), "application/json", "application/json")
    return reply.status, json.loads(reply.body)


def penguin(island: Any, alcohol: Any = 13.2) -> dict[str, Any]:
    return {
        "features": {"alcohol": alcohol, "malic_acid": 2.0, "color_intensity": 5.1, "proline": 750, "island": island}
    }


def test_given_a_one_hot_pipeline_on_text_and_gaps_the_served_signature_has_its_categories_and_nulls(tmp_path):
    x, y = penguins_like()
    model = served_without_signature(tmp_path, one_hot_pipeline().fit(x, y))
    signature = model.signature

    island = signature.features[-1]
    assert (signature.kind, signature.named, signature.labels) == (
        "multiclass",
        True,
        ["Adelie", "Chinstrap", "Gentoo"],
    )
    assert signature.feature_names == [*WINE, "island"]
    assert (island.type, island.categories, island.nullable) == ("category", ["Biscoe", "Dream", "Torgersen"], True)
    assert all(f.type == "number" and f.nullable for f in signature.features[:-1])  # imputed, so a null is scored
    status, answer = call(model, {"instances": [penguin("Dream"), penguin(None, alcohol=None)]})
    assert status == 200
    assert [p["prediction"] for p in answer["predictions"]] == list(
        model.estimator.predict(pd.DataFrame([penguin("Dream")["features"], penguin(None, None)["features"]]))
    )


def test_an_encoder_that_ignores_unknown_categories_gives_the_missing_policy_and_an_unseen_island_scores(tmp_path):
    x, y = penguins_like()
    model = served_without_signature(tmp_path, one_hot_pipeline("ignore").fit(x, y))

    status, answer = call(model, {"instances": [penguin("Atlantis"), penguin(None)]})

    assert model.signature.unknown_categories == "missing"
    assert status == 200
    unseen, null = answer["predictions"]
    assert unseen["probabilities"] == null["probabilities"]  # all-zero one-hot either way, as the model does


def test_an_encoder_that_raises_on_unknown_categories_gives_refuse_and_no_null_where_it_takes_none(tmp_path):
    x, y = penguins_like()
    x = x.dropna()
    pipeline = make_pipeline(
        ColumnTransformer([("island", OneHotEncoder(handle_unknown="error"), ["island"])], remainder=StandardScaler()),
        LogisticRegression(max_iter=2000),
    )
    model = served_without_signature(tmp_path, pipeline.fit(x, y.loc[x.index]))

    alone, refused = call(model, penguin("Atlantis"))
    _, null = call(model, penguin("Dream", alcohol=None))

    assert model.signature.unknown_categories == "refuse"
    assert [f.nullable for f in model.signature.features] == [False] * 5
    assert (alone, refused["feature"]) == (400, "island")
    assert refused["message"].endswith('"Atlantis" is not a known category (Biscoe, Dream, Torgersen)')
    assert null["feature"] == "alcohol"
    assert null["message"].endswith("feature 'alcohol' is missing (null); this model needs a value")


def test_a_model_nrt_trained_derives_the_signature_it_was_saved_with(tmp_path):
    """OrdinalEncoder(use_encoded_value, nan) before HistGradientBoosting: the same types and categories."""
    directory = tmp_path / "spend"
    train(directory, Recipe(str(shop_csv(tmp_path)), "spend", None, "regression"))
    saved = inference.Signature.from_dict(json.loads((directory / inference.SIGNATURE).read_text()))

    derived = inference.derive_signature(joblib.load(directory / inference.ARTIFACT))

    assert [(f.name, f.type, f.categories) for f in derived.features] == [
        (f.name, f.type, f.categories) for f in saved.features
    ]
    assert all(f.nullable for f in derived.features)  # gradient boosting scores a missing value anywhere
    assert (derived.kind, derived.named, derived.unknown_categories) == ("regression", True, "missing")


def test_gradient_boosting_on_pandas_categories_takes_any_text_and_scores_an_unseen_one_as_missing(tmp_path):
    x, y = penguins_like()
    booster = HistGradientBoostingClassifier(max_iter=20).fit(x.astype({"island": "category"}), y)
    model = served_without_signature(tmp_path, booster)

    island = model.signature.features[-1]
    status, answer = call(model, {"instances": [penguin("Atlantis"), penguin(None)]})

    assert (island.type, island.categories, island.nullable) == ("category", None, True)
    assert model.signature.unknown_categories == "missing"
    assert status == 200
    assert answer["predictions"][0]["probabilities"] == answer["predictions"][1]["probabilities"]


def test_a_classifier_fitted_on_bare_numbers_takes_positional_numbers_that_cannot_be_null(tmp_path):
    x, y = load_wine(return_X_y=True)
    model = served_without_signature(tmp_path, LogisticRegression(max_iter=5000).fit(x, y))
    signature = model.signature

    status, answer = call(model, {"data": x[0].tolist()})

    assert (signature.kind, signature.named, signature.labels) == ("multiclass", False, [0, 1, 2])
    assert signature.feature_names == [f"x{i}" for i in range(13)]
    assert not any(f.nullable for f in signature.features)  # LogisticRegression refuses NaN
    assert signature.unknown_categories == "refuse"  # no categories to speak of
    assert (status, answer["predictions"][0]["prediction"]) == (200, 0)


def test_a_regressor_with_an_imputer_on_named_columns_takes_nulls(tmp_path):
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    model = served_without_signature(tmp_path, make_pipeline(SimpleImputer(), Ridge()).fit(x, y))

    status, answer = call(model, {"features": {**x.iloc[0].to_dict(), "bmi": None}})

    assert (model.signature.kind, model.signature.labels) == ("regression", None)
    assert all(f.type == "number" and f.nullable for f in model.signature.features)
    assert status == 200 and isinstance(answer["predictions"][0]["prediction"], float)


def test_column_selections_by_index_mask_and_slice_find_the_same_encoded_column():
    x, y = penguins_like()
    x = x.dropna()
    names = list(x.columns)
    for columns in ([4], [False, False, False, False, True], slice(4, 5), ["island"]):
        encode = ColumnTransformer([("t", OrdinalEncoder(), columns)], remainder="passthrough")
        fitted = make_pipeline(encode, Ridge()).fit(x, y.loc[x.index].factorize()[0])

        signature = inference.signature_from_estimator(fitted)

        assert [f.name for f in signature.features if f.type == "category"] == ["island"], columns
        assert signature.features[names.index("island")].categories == ["Biscoe", "Dream", "Torgersen"]
        assert signature.unknown_categories == "refuse"  # OrdinalEncoder's default raises on one it never saw


class Oracle:
    """An estimator of another tool: predict, and nothing scikit-learn would say of itself."""

    def predict(self, x: Any) -> Any:
        return np.zeros(len(x))


def example_in(message: str) -> inference.Signature:
    """The signature.json a refusal shows, read as the serving code reads the file."""
    return inference.Signature.from_dict(json.loads(message.split("e.g. ", 1)[1]))


def test_a_model_that_does_not_say_what_it_takes_is_refused_naming_signature_json_with_its_form(tmp_path):
    with pytest.raises(inference.NoSignature) as refused:
        served_without_signature(tmp_path, Oracle())

    message = str(refused.value)
    assert message.startswith("cannot tell what this model takes: it does not say which features it takes. ")
    assert "Put a signature.json beside model.joblib (at the top of model.tar.gz" in message
    example = example_in(message)
    assert (example.kind, example.feature_names) == ("regression", ["x0"])


def test_a_model_whose_own_reading_fails_is_refused_with_a_form_to_fill_in_for_its_features():
    """A step of its own that takes text scikit-learn's attributes do not describe."""
    x, y = penguins_like()
    x = x.dropna()
    lengths = FunctionTransformer(lambda frame: frame[["island"]].apply(lambda c: c.str.len()))
    fitted = make_pipeline(
        ColumnTransformer([("length", lengths, ["island"])], remainder=StandardScaler()), LogisticRegression()
    ).fit(x, y.loc[x.index])

    with pytest.raises(inference.NoSignature, match=r"a reading built from what it says of itself fails \(") as refused:
        inference.derive_signature(fitted)

    example = example_in(str(refused.value))
    assert (example.kind, example.named, example.labels) == ("multiclass", True, ["Adelie", "Chinstrap", "Gentoo"])
    assert example.feature_names == WINE[:3]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wine classifier fitted on bare numbers, and the CSVs a user would give as its --sample."""
    folder = tmp_path_factory.mktemp("sample")
    data = load_wine(as_frame=True)
    joblib.dump(LogisticRegression(max_iter=5000).fit(data.data.to_numpy(), data.target), folder / "wine.joblib")
    named = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=5000))
    joblib.dump(named.fit(data.data, data.target), folder / "named.joblib")
    data.frame.rename(columns={"target": "cultivar"}).head(30).to_csv(folder / "with-label.csv", index=False)
    data.data.head(30).to_csv(folder / "features.csv", index=False)
    data.data.iloc[:30, :12].to_csv(folder / "too-few.csv", index=False)
    (folder / "empty.csv").write_text("")
    (folder / "header-only.csv").write_text(",".join(data.data.columns) + "\n")
    (folder / "model.csv").write_bytes((folder / "wine.joblib").read_bytes()[:400])
    return folder


def check_with_sample(files: Path, tmp_path: Path, model: str, sample: str, capsys: Any) -> dict[str, Any]:
    code = check.main([str(tmp_path / "out"), "--from-file", str(files / model), "--sample", str(files / sample)])
    verdict: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == (0 if verdict["ok"] else 1)
    return verdict


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        (
            "with-label.csv",
            "has 14 columns and the model takes 13 features; it keeps no feature names, so the sample's columns "
            r"are its features, in the order it takes them: drop the label column 'cultivar' \(it holds the model's "
            r"labels\)",
        ),
        ("too-few.csv", "has 12 columns and the model takes 13 features; .* give one column per feature"),
        ("empty.csv", "is empty: give a CSV file with a header row of feature names and rows of their values"),
        ("header-only.csv", "has a header but no rows: give rows too, to tell numbers from categories"),
        ("model.csv", r"is not a CSV file with a header row of feature names and rows of their values \("),
        ("absent.csv", "cannot be read: No such file or directory"),
    ],
)
def test_a_sample_the_model_cannot_use_is_refused_with_what_to_do_never_a_traceback(
    files, tmp_path, capsys, sample, reason
):
    verdict = check_with_sample(files, tmp_path, "wine.joblib", sample, capsys)

    assert not verdict["ok"]
    assert verdict["reason"].startswith(f"--sample {files / sample} ")
    assert re.search(reason, verdict["reason"]), verdict["reason"]
    assert not (tmp_path / "out").exists()


def test_a_sample_of_only_the_features_names_a_bare_model_s_features_and_a_named_model_ignores_its_label(
    files, tmp_path, capsys
):
    bare = check_with_sample(files, tmp_path, "wine.joblib", "features.csv", capsys)
    names = inference.load_signature(tmp_path / "out", None).feature_names
    named = check_with_sample(files, tmp_path, "named.joblib", "with-label.csv", capsys)

    assert bare == named == {"ok": True, "kind": "multiclass", "features": 13}
    assert names == list(load_wine().feature_names)
    assert "cultivar" not in inference.load_signature(tmp_path / "out", None).feature_names


def test_a_sample_with_few_rows_keeps_every_category_the_model_s_encoder_knows(tmp_path, capsys):
    frame = shop_frame()
    x = frame[["channel", "basket", "member"]]
    joblib.dump(one_hot_pipeline().fit(x, frame["big"]), tmp_path / "shop.joblib")
    frame[frame["channel"] == "web"].head(3).to_csv(tmp_path / "few.csv", index=False)

    verdict = check_with_sample(tmp_path, tmp_path, "shop.joblib", "few.csv", capsys)
    channel = inference.load_signature(tmp_path / "out", None).features[0]

    assert verdict["ok"]
    assert (channel.name, channel.categories) == ("channel", ["app", "store", "web"])


def test_a_step_that_keeps_its_columns_before_an_encoder_is_looked_through_and_one_that_may_not_is_not():
    x, y = penguins_like()
    x = x.dropna()
    lower = operator.methodcaller("map", str.lower)

    def model(names_out: str | None) -> Any:
        text = make_pipeline(FunctionTransformer(lower, feature_names_out=names_out), OneHotEncoder())
        encode = ColumnTransformer([("island", text, ["island"])], remainder=StandardScaler())
        return make_pipeline(encode, LogisticRegression()).fit(x, y.loc[x.index])

    island = inference.derive_signature(model("one-to-one")).features[-1]

    assert (island.type, island.categories) == ("category", ["biscoe", "dream", "torgersen"])
    with pytest.raises(inference.NoSignature, match=r"fails \(.*Put a signature\.json beside model\.joblib"):
        inference.derive_signature(model(None))


def readme_pipeline() -> Pipeline:
    """The pipeline README.md's signature.json describes, fitted on examples/orders.csv."""
    from tests.helpers import ROOT

    frame = pd.read_csv(ROOT / "examples" / "orders.csv")
    text = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    encode = ColumnTransformer([("text", text, ["channel", "member"]), ("numbers", SimpleImputer(), ["basket"])])
    return make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(
        frame[["channel", "basket", "member"]], frame["big"]
    )


def readme_block(language: str) -> str:
    from tests.helpers import ROOT

    section = (ROOT / "README.md").read_text().split("## A model from another tool", 1)[1].split("\n## ", 1)[0]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_readme_signature_json_is_what_the_serving_code_derives_for_the_pipeline_it_describes():
    shown = json.loads(readme_block("json"))

    derived = json.loads(inference.derive_signature(readme_pipeline()).to_json())

    assert {key: derived[key] for key in shown} == {
        **shown,
        "features": [{"categories": None, **f} for f in shown["features"]],
    }


@pytest.mark.parametrize("with_signature", [True, False])
def test_the_readme_lines_make_a_model_tar_gz_the_serving_code_loads_with_or_without_signature_json(
    tmp_path, monkeypatch, with_signature
):
    from training.package import unpack

    monkeypatch.chdir(tmp_path)
    joblib.dump(readme_pipeline(), "model.joblib")
    (tmp_path / "inference.py").write_text(Path(inference.__file__).read_text())
    lines = readme_block("python")
    if with_signature:
        (tmp_path / "signature.json").write_text(readme_block("json"))
    else:
        lines = "\n".join(line for line in lines.splitlines() if "signature.json" not in line)

    exec(lines, {})  # the README's lines, as an SDK user runs them

    served = inference.model_fn(str(unpack(tmp_path / "model.tar.gz", tmp_path / "opt-ml-model")))
    status, answer = call(served, {"features": {"channel": "store", "basket": 10, "member": None}})
    assert (tmp_path / "opt-ml-model" / "code" / "inference.py").is_file()
    assert (tmp_path / "opt-ml-model" / "signature.json").is_file() == with_signature
    assert served.signature.features[0].categories == ["app", "store", "web"]
    assert (status, answer["predictions"][0]["prediction"]) == (200, "yes")


def test_the_user_guide_quotes_the_refusal_as_the_serving_code_words_it():
    from tests.helpers import ROOT

    guide = " ".join((ROOT / "docs" / "user-guide.md").read_text().split())
    with pytest.raises(inference.NoSignature) as refused:
        inference.derive_signature(Oracle())

    assert f"e.g. `{refused.value}`" in guide


def test_deploy_model_file_says_what_signature_it_derived(tmp_path, capsys):
    import argparse

    from nrt.cli.models import take_model_file

    joblib.dump(readme_pipeline(), tmp_path / "shop.joblib")
    given = {"task": None, "sample": None, "positive_label": None, "threshold": None, "trust": None}
    args = argparse.Namespace(model_file=str(tmp_path / "shop.joblib"), **given)

    take_model_file(args, tmp_path / "shop")

    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{tmp_path / 'shop' / 'signature.json'}: binary, 3 features (categories: channel, member), "
        "unknown categories: missing"
    )


def test_a_sample_without_a_column_a_named_model_takes_is_refused_naming_the_column(files, tmp_path, capsys):
    verdict = check_with_sample(files, tmp_path, "named.joblib", "too-few.csv", capsys)

    assert verdict == {
        "ok": False,
        "reason": f"--sample {files / 'too-few.csv'} has no column 'proline', which the model takes",
    }


def test_deploy_model_s_unknown_categories_flag_overrides_the_derived_policy_of_a_model_without_signature_json(
    tmp_path, capsys
):
    from nrt.cli.models import set_unknown_categories

    joblib.dump(readme_pipeline(), tmp_path / inference.ARTIFACT)  # its encoders ignore unknowns: derived "missing"

    set_unknown_categories(tmp_path, "refuse")

    written = inference.Signature.from_dict(json.loads((tmp_path / inference.SIGNATURE).read_text()))
    assert (written.unknown_categories, written.features[0].categories) == ("refuse", ["app", "store", "web"])
    assert f"unknown categories: refuse (written to {tmp_path / inference.SIGNATURE})" in capsys.readouterr().out
