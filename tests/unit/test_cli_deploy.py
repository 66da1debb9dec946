"""`nrt deploy-model` refuses what cannot work before it looks for a stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from nrt.cli import main


def test_a_model_never_trained_is_refused_with_how_to_train_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["deploy-model", "wine", "--local", "--state-dir", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 1
    assert f"no trained model at {tmp_path / 'models' / 'wine'}" in err
    assert "nrt train wine --csv FILE --label COLUMN" in err
    assert not (tmp_path / "models").exists()  # nothing made on the way


def test_code_with_nothing_to_serve_or_install_is_refused_and_the_model_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    model = tmp_path / "models" / "wine"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text("# the serving code deployed before\n")
    (tmp_path / "mine").mkdir()

    code = main(["deploy-model", "wine", "--local", "--code", str(tmp_path / "mine"), "--state-dir", str(tmp_path)])

    assert code == 1
    assert "has no inference.py, requirements.txt or Python module" in capsys.readouterr().err
    assert (model / "code" / "inference.py").read_text() == "# the serving code deployed before\n"


def test_waiting_for_an_endpoint_says_each_status_once_not_every_poll():
    from nrt.ops.deploy import wait_in_service

    statuses = iter(["Creating"] * 6 + ["InService"])

    class SageMaker:
        def describe_endpoint(self, EndpointName: str) -> dict:
            return {"EndpointStatus": next(statuses), "EndpointConfigName": "c"}

    lines: list[str] = []
    assert wait_in_service(SageMaker(), "nrt-m", lines.append, poll=0) == "InService"  # type: ignore[arg-type]
    assert [line.split("(")[0].strip() for line in lines] == ["nrt-m: Creating", "nrt-m: InService"]
