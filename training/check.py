"""Load a model the way the serving container will, in a process of its own, and score a sample.

`python -m training.check MODEL_DIR` prints one JSON line: {"ok": true, ...} or
{"ok": false, "reason": "..."} with what to do. With --from-file FILE it first builds MODEL_DIR
from a fitted estimator saved with joblib, pickle or skops (a .skops file, loaded with only
the types skops trusts and those --trust names): the artifact, and a signature from what the
estimator says of itself (feature names, classes) and from the flags.

It runs in its own process because loading a pickle runs code, may change process-wide state,
and fails in ways (a class defined in a notebook's __main__, a missing library) that must not
take the caller down.
"""

from __future__ import annotations

import argparse
import json
import pickle
import pickletools
import re
import shutil
import sys
import warnings
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from training import container, inference
from training.inference import SIGNATURE, Feature, Kind, Signature

# The scikit-learn of the serving image: nrt deploy-model deploys SageMaker's scikit-learn container of this version.
SERVING_SKLEARN = "1.9"
# What that image installs, pinned, with where it was read (a library outside it needs a requirements.txt).
IMAGE_PACKAGES = Path(__file__).with_name("sklearn_image_packages.json")


class Refused(Exception):
    """The model cannot be served; the message says why and what to do."""


def _load_skops(path: Path, trusted: list[str]) -> Any:
    """A .skops file: only types skops trusts, and those you name, are ever built; no code runs."""
    import skops.io as sio

    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
    if untrusted:
        raise Refused(
            f"{path} holds types skops does not trust by default: {', '.join(untrusted)}. "
            f"Check that you expect each, then pass --trust {','.join(untrusted)}"
        )
    return sio.load(path, trusted=trusted or None)


def _load(path: Path, trusted: list[str] | None = None) -> Any:
    """skops, joblib or plain pickle, with the reasons a load fails said in a user's terms."""
    if path.suffix == ".skops":
        return _load_skops_file(path, trusted or [])
    try:
        model, caught = _unpickle(path)
    except Exception as error:
        raise _refusal(path, error) from None
    _refuse_other_sklearn(path, caught)
    return model


def _load_skops_file(path: Path, trusted: list[str]) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _load_skops(path, trusted)
    except Refused:
        raise
    except Exception as error:
        raise Refused(f"{path} cannot be loaded with skops: {type(error).__name__}: {error}") from None


def _unpickle(path: Path) -> tuple[Any, list[warnings.WarningMessage]]:
    """joblib, else plain pickle; with the warnings the load gave."""
    import joblib

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = joblib.load(path)
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError, IndexError):
            with path.open("rb") as handle:
                model = pickle.load(handle)
    return model, caught


def _refusal(path: Path, error: Exception) -> Refused:
    """Why an unpickling failed, in a user's terms."""
    if isinstance(error, AttributeError):
        # Unpickling looks a notebook's class up in this process's __main__, which lacks it.
        if "__main__" in str(error) or repr(sys.modules["__main__"]) in str(error):
            return Refused(
                f"{path} refers to a class defined in the notebook or script that saved it ({error}). "
                "Move that class into a module of its own, import it from there, save the model again, "
                "and deploy the module with --code DIR; or build the model from scikit-learn's own classes"
            )
        return Refused(f"{path} cannot be loaded: {error}")
    if isinstance(error, ModuleNotFoundError):
        return Refused(
            f"{path} needs the library {error.name!r}, which is not installed here and the serving image does not "
            "have: install it, list it in a requirements.txt in a folder and deploy with --code DIR (the folder "
            "needs nothing else)"
        )
    return Refused(f"{path} cannot be loaded: {type(error).__name__}: {error}")


def _refuse_other_sklearn(path: Path, caught: list[warnings.WarningMessage]) -> None:
    """scikit-learn warned, loading, that another version fitted the model."""
    from sklearn.exceptions import InconsistentVersionWarning

    for warning in caught:
        if isinstance(warning.message, InconsistentVersionWarning):
            fitted = warning.message.original_sklearn_version
            raise Refused(
                f"{path} was fitted with scikit-learn {fitted}; the serving image has scikit-learn "
                f"{SERVING_SKLEARN}. Refit it with scikit-learn {SERVING_SKLEARN} (pip install "
                f"'scikit-learn=={SERVING_SKLEARN}.*'), or train it here with nrt train"
            )


def _version_of(model: Any) -> str:
    version = getattr(model, "_sklearn_version", None)
    if version is None and hasattr(model, "steps"):
        version = getattr(model.steps[-1][1], "_sklearn_version", None)
    return str(version or "")


def signature_for(
    model: Any, kind: Kind | None, sample: Path | None, positive: Any, threshold: float | None
) -> Signature:
    """The signature derived from the estimator, or its own with types from a sample CSV where given."""
    if not hasattr(model, "predict"):
        raise Refused(f"the file holds a {type(model).__name__}, not a fitted estimator (it has no predict)")
    try:
        if sample is None:
            signature = inference.derive_signature(model, kind)
        else:
            signature = _with_sample(inference.signature_from_estimator(model, kind), sample)
    except inference.NoSignature as error:
        raise Refused(str(error)) from None
    except (TypeError, ValueError) as error:
        raise Refused(f"cannot tell what the model takes: {error}") from None
    if not signature.features:
        raise Refused(
            "the estimator does not say which features it takes (no n_features_in_ or feature_names_in_): "
            "pass --sample CSV with the feature columns in the order the model takes them"
        )
    if signature.kind == "binary":
        signature = _with_positive(signature, positive, threshold)
    return replace(signature, sklearn_version=_version_of(model) or signature.sklearn_version)


def _with_sample(signature: Signature, sample: Path) -> Signature:
    """Features typed from a sample CSV (named by it when the estimator names none); a category the
    model's encoder knows keeps the encoder's values, which a few rows may not all show."""
    from training.train import features_of

    frame = read_sample(sample)
    if signature.named:
        names = signature.feature_names
        missing = [name for name in names if name not in frame.columns]
        if missing:
            raise Refused(f"--sample {sample} has no column {missing[0]!r}, which the model takes")
    else:
        names = _positional_columns(signature, frame, sample)
    encoded = {f.name: f for f in signature.features if f.type == "category"} if signature.named else {}
    features = [
        replace(encoded[f.name], nullable=f.nullable) if f.name in encoded else f for f in features_of(frame[names])
    ]
    return replace(signature, features=features)


def read_sample(sample: Path) -> Any:
    """A --sample CSV as a DataFrame with rows; Refused says what is wrong with the file."""
    import pandas as pd

    what = "a CSV file with a header row of feature names and rows of their values"
    try:
        frame = pd.read_csv(sample, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise Refused(f"--sample {sample} is empty: give {what}") from None
    except OSError as error:
        raise Refused(f"--sample {sample} cannot be read: {error.strerror or error}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise Refused(f"--sample {sample} is not {what} ({str(error).strip()[:120]})") from None
    if frame.empty:
        raise Refused(f"--sample {sample} has a header but no rows: give rows too, to tell numbers from categories")
    return frame


def _positional_columns(signature: Signature, frame: Any, sample: Path) -> list[str]:
    """The sample's columns as the features of a model that keeps no names: one column per feature, in order."""
    columns, count = [str(c) for c in frame.columns], len(signature.features)
    if len(columns) == count or not count:  # not even a count: every column of the sample is a feature
        return columns
    intro = (
        f"--sample {sample} has {len(columns)} columns and the model takes {count} features; it keeps no feature "
        "names, so the sample's columns are its features, in the order it takes them"
    )
    labels = _label_columns(frame, signature.labels)
    if len(columns) > count and len(labels) == 1:
        raise Refused(f"{intro}: drop the label column {labels[0]!r} (it holds the model's labels) from the sample")
    if len(columns) > count:
        raise Refused(f"{intro}: drop the columns that are not features (the label, ids) from the sample")
    raise Refused(f"{intro}: give one column per feature")


def _label_columns(frame: Any, labels: list[Any] | None) -> list[str]:
    """The sample's columns that hold nothing but the model's labels (a classifier's label column)."""
    if not labels:
        return []
    known = {str(label) for label in labels}
    return [str(c) for c in frame.columns if {str(inference.native(v)) for v in frame[c].dropna()} <= known]


def _with_positive(signature: Signature, positive: Any, threshold: float | None) -> Signature:
    """A binary model's positive label and threshold, where the flags give them."""
    labels = signature.labels or []
    if positive is not None and positive not in labels:
        raise Refused(f"--positive-label {positive!r} is not one of the model's labels {labels}")
    return replace(
        signature,
        positive_label=positive if positive is not None else signature.positive_label,
        threshold=threshold if threshold is not None else signature.threshold,
    )


def sample_instance(signature: Signature) -> dict[str, Any]:
    """One reading that fits the signature: zeros, and each category's first known value."""

    def value(feature: Feature) -> Any:
        if feature.type == "number":
            return 0.0
        return feature.categories[0] if feature.categories else "x"

    return {"features": {f.name: value(f) for f in signature.features}}


PREDICTION_KEYS = {"kind", "prediction", "probability", "probabilities"}


def check(model_dir: Path) -> Signature:
    """Load as the container does and score one sample reading; Refused says what went wrong."""
    estimator = _load(model_dir / inference.ARTIFACT)
    try:
        signature = inference.load_signature(model_dir, estimator)
    except inference.NoSignature as error:
        raise Refused(str(error)) from None
    _check_fitted_here(signature.sklearn_version or _version_of(estimator))
    check_image_has(estimator, model_dir)
    if not (model_dir / SIGNATURE).is_file():  # a model saved before signatures: keep what it says of itself
        (model_dir / SIGNATURE).write_text(signature.to_json())
    check_requirements(model_dir)
    _check_answer(_score_sample(_serve(model_dir), signature), signature)
    return signature


def _check_fitted_here(fitted: str) -> None:
    if fitted and ".".join(fitted.split(".")[:2]) != SERVING_SKLEARN:
        raise Refused(
            f"the model was fitted with scikit-learn {fitted}; the serving image has scikit-learn {SERVING_SKLEARN}. "
            f"Refit it with scikit-learn {SERVING_SKLEARN}"
        )


def _serve(model_dir: Path) -> container.Served:
    """The model as the container loads it (its serving code's model_fn, if any)."""
    try:
        return container.load(model_dir)
    except container.ServingCodeError as error:
        raise Refused(str(error)) from None
    except Exception as error:
        raise Refused(f"the serving code's model_fn failed: {type(error).__name__}: {error}") from None


def _score_sample(served: container.Served, signature: Signature) -> Any:
    """The one prediction the container answers for a sample reading."""
    body = json.dumps({"instances": [sample_instance(signature)]})
    reply = container.answer(served, body, "application/json", "application/json")
    if reply.status != 200:
        detail = reply.body if len(reply.body) <= 300 else reply.body[:300] + "..."
        raise Refused(f"the model refused a sample reading built from its signature ({reply.status}): {detail}")
    try:
        [answer] = json.loads(reply.body)["predictions"]
    except (ValueError, KeyError, TypeError) as error:
        raise Refused(
            f'the answer to a sample reading is not {{"predictions": [one prediction]}} ({error}): {reply.body[:200]}'
        ) from None
    return answer


def _check_answer(answer: Any, signature: Signature) -> None:
    """A prediction carries what the workflow stores; a classifier answers one of its labels."""
    missing = PREDICTION_KEYS - set(answer) if isinstance(answer, dict) else PREDICTION_KEYS
    if missing:
        raise Refused(
            f"a prediction must carry {', '.join(sorted(PREDICTION_KEYS))} (the workflow stores each); "
            f"this one lacks {', '.join(sorted(missing))}: {json.dumps(answer)[:200]}"
        )
    if signature.kind != "regression" and answer["prediction"] not in (signature.labels or []):
        raise Refused(f"the model answered {answer['prediction']!r}, which is not one of its labels")


def image_modules() -> set[str]:
    """The top-level import names the serving image has."""
    listed = json.loads(IMAGE_PACKAGES.read_text())["distributions"]
    return {module for distribution in listed.values() for module in distribution["modules"]}


def modules_pickled(model: Any) -> set[str]:
    """The modules a pickle of the model names (its GLOBAL and STACK_GLOBAL opcodes), read, never loaded.

    The model is pickled again in memory because a joblib file interleaves raw array bytes that
    pickletools cannot walk; the classes it names are the same.
    """
    memo: dict[int, Any] = {}
    pushed: deque[Any] = deque([None, None], maxlen=2)  # what the last two opcodes pushed
    modules: set[str] = set()
    for opcode, arg, _ in pickletools.genops(pickle.dumps(model, protocol=4)):
        if opcode.name == "GLOBAL":
            modules.add(str(arg).split(" ", 1)[0])
        elif opcode.name == "STACK_GLOBAL":
            modules.add(str(pushed[-2]))
        elif opcode.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1]
        elif opcode.name in {"PUT", "BINPUT", "LONG_BINPUT"}:
            memo[int(str(arg))] = pushed[-1]
        else:
            pushed.append(memo.get(int(str(arg))) if opcode.name in {"GET", "BINGET", "LONG_BINGET"} else arg)
    return modules


def check_image_has(model: Any, model_dir: Path) -> None:
    """Every library the pickle names is in the serving image, shipped in code/, or in code/requirements.txt."""
    code = model_dir / container.CODE
    shipped = (
        {p.stem for p in code.glob("*.py")} | {p.name for p in code.iterdir() if p.is_dir()} if code.is_dir() else set()
    )
    required = {_normalised(name) for name in requirement_names(code / container.REQUIREMENTS)}
    have = image_modules() | set(sys.stdlib_module_names) | shipped | {"__builtin__", "copy_reg"}
    for top in sorted({module.split(".")[0] for module in modules_pickled(model)} - have):
        distribution, installed = _distribution_of(top)
        if _normalised(distribution) not in required:
            raise Refused(_outside_image(top, distribution, installed))


def _outside_image(top: str, distribution: str, installed: str) -> str:
    pin = f"{distribution}=={installed}" if installed else distribution
    return (
        f"the model needs the library {top!r}, which SageMaker's scikit-learn {SERVING_SKLEARN} image does not have "
        f"(whatever is installed here; the image's packages: training/{IMAGE_PACKAGES.name}). Put the line {pin!r} "
        "in a requirements.txt in a folder and deploy with --code DIR (the folder needs nothing else: the project's "
        "serving code is kept); the container installs it when the endpoint starts"
    )


def _distribution_of(top: str) -> tuple[str, str]:
    """The installed distribution that provides an import name, and its version ('' where none does)."""
    from importlib.metadata import packages_distributions, version

    names = packages_distributions().get(top, [])
    return (names[0], version(names[0])) if names else (top, "")


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: Path) -> list[str]:
    """The distributions a requirements.txt names (none where there is no file)."""
    if not requirements.is_file():
        return []
    names = (
        re.split(r"[<>=!~\[;@\s]", line.split("#", 1)[0].strip(), maxsplit=1)[0]
        for line in requirements.read_text().splitlines()
    )
    return [name for name in names if name and not name.startswith("-")]


def check_requirements(model_dir: Path) -> None:
    """The container installs code/requirements.txt; here they must already be installed."""
    from importlib.metadata import PackageNotFoundError, version

    requirements = model_dir / container.CODE / container.REQUIREMENTS
    for name in requirement_names(requirements):
        try:
            version(name)
        except PackageNotFoundError:
            raise Refused(
                f"{requirements} needs {name!r}, which is not installed here: the container installs it on AWS; "
                f"for the local stack, install it first (.venv/bin/pip install -r {requirements})"
            ) from None


def from_file(model_file: Path, model_dir: Path, args: argparse.Namespace) -> None:
    """MODEL_DIR from a fitted estimator file: the artifact, and its signature."""
    if not model_file.is_file():
        raise Refused(f"{model_file}: no such file")
    estimator = _load(model_file, args.trust)
    signature = signature_for(estimator, args.task, args.sample, args.positive_label, args.threshold)
    model_dir.mkdir(parents=True, exist_ok=True)
    import joblib

    joblib.dump(estimator, model_dir / inference.ARTIFACT)
    (model_dir / SIGNATURE).write_text(signature.to_json())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that a model loads and scores as the container will.")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--from-file", type=Path)
    parser.add_argument("--task", choices=["binary", "multiclass", "regression"])
    parser.add_argument("--sample", type=Path)
    parser.add_argument("--positive-label")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--trust", type=lambda text: [t.strip() for t in text.split(",") if t.strip()], default=[])
    args = parser.parse_args(argv)
    if args.positive_label is not None:
        args.positive_label = inference.label_from_text(args.positive_label)
    code = args.model_dir / container.CODE
    if code.is_dir():  # helper modules shipped with --code DIR load the model's own classes, as in the container
        sys.path.insert(0, str(code.resolve()))
    try:
        if args.from_file is not None:
            from_file(args.from_file, args.model_dir, args)
        signature = check(args.model_dir)
    except Refused as error:
        if args.from_file is not None and args.model_dir.exists():
            shutil.rmtree(args.model_dir, ignore_errors=True)
        print(json.dumps({"ok": False, "reason": str(error)}))
        return 1
    print(json.dumps({"ok": True, "kind": signature.kind, "features": len(signature.features)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
