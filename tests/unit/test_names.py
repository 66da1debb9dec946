"""One rule for a model's name (nrt/names.py), applied by every command before any file is read,
written or deleted, by the state directory, and by the API's schema (tests/unit/test_gateway.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nrt import cli
from nrt.names import DEPLOYABLE_MAX, ENDPOINT_PATTERN, NameRuleError, check_model_name
from nrt.ops.stacks import local_prefix
from nrt.statedir import StateDir
from nrt.template import load_template

BAD = ["../..", "../x", "/tmp/x", "a/b", "name\n", "pen_guins", "diamonds.nb", "", "-a", "a-", "a b", "ü"]


@pytest.mark.parametrize("name", BAD)
def test_a_name_no_endpoint_can_have_is_refused_with_the_rule(name: str) -> None:
    with pytest.raises(NameRuleError, match="letters, digits and hyphens"):
        check_model_name(name, "nrt-")


def test_the_length_counts_the_prefix_and_the_version_stamp() -> None:
    prefix = local_prefix()
    longest = "a" * (DEPLOYABLE_MAX - len(prefix))
    assert check_model_name(longest, prefix) == longest
    with pytest.raises(NameRuleError, match=f"at most {len(longest)} characters"):
        check_model_name(longest + "a", prefix)
    # The longest endpoint with its version stamp is still a SageMaker name (63 at most).
    assert re.fullmatch(ENDPOINT_PATTERN, f"{prefix}{longest}-20261205-120000")


@pytest.mark.parametrize("name", ["m", "pen-guins", "Diamonds2", "a--b"])
def test_endpoint_names_pass(name: str) -> None:
    assert check_model_name(name, "nrt-") == name


def test_the_api_schema_is_the_endpoint_rule() -> None:
    api = load_template()["Resources"]["Api"]["Properties"]["DefinitionBody"]
    schema = api["components"]["schemas"]["ModelName"]
    assert schema["maxLength"] == 63
    for name in ["m", "pen-guins", "a" * 63, *BAD, "a" * 64]:
        by_schema = re.search(schema["pattern"], name) is not None and len(name) <= schema["maxLength"]
        assert by_schema == (re.fullmatch(ENDPOINT_PATTERN, name) is not None), name


@pytest.mark.parametrize("name", ["../..", "/abs", "a/b", "x_y"])
def test_the_state_dir_refuses_a_path_for_a_model(tmp_path: Path, name: str) -> None:
    with pytest.raises(NameRuleError):
        StateDir(tmp_path).model(name)


@pytest.mark.parametrize(
    "argv",
    [
        ["deploy-model", "../..", "--code", "{code}"],
        ["deploy-model", "../x", "--model-file", "{code}/model.joblib"],
        ["train", "{root}/elsewhere"],
        ["train", "pen_guins"],
        ["retrain", "a/b", "--local"],
    ],
)
def test_a_command_refuses_a_bad_name_before_it_touches_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    # deploy-model ../.. --code DIR once removed <state-dir>/../code before the name was checked.
    state = tmp_path / "state"
    (state / "models").mkdir(parents=True)
    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text("# the user's own\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    args = [a.format(code=code, root=tmp_path) for a in argv] + ["--state-dir", str(state)]

    with pytest.raises(SystemExit) as exit_:
        cli.main(args)

    assert exit_.value.code == 2  # argparse's usage error
    assert "letters, digits and hyphens" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
