"""`nrt produce --stack NAME`: the producer sends to a deployed stack's ApiUrl with its API key's
value, read through CloudFormation and API Gateway (moto in-process, no network)."""

from __future__ import annotations

import json
import os

import boto3
import pytest
from moto import mock_aws

from nrt.cli.stack import producer_argv


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch):
    """A stack `nrt-inference` in eu-west-1 with the template's ApiUrl and ApiKeyId outputs."""
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NRT_API_KEY", "")  # so that the key the test puts there is removed after it
    monkeypatch.delenv("NRT_API_KEY")
    with mock_aws():
        key = boto3.client("apigateway", region_name="eu-west-1").create_api_key(
            name="producer", value="the-producers-key-0123456789", enabled=True
        )
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {
                "ApiUrl": {"Value": "https://abc.execute-api.eu-west-1.amazonaws.com/prod"},
                "ApiKeyId": {"Value": key["id"]},
            },
        }
        boto3.client("cloudformation", region_name="eu-west-1").create_stack(
            StackName="nrt-inference", TemplateBody=json.dumps(template)
        )
        yield


def test_given_stack_then_the_url_is_its_api_url_and_the_key_its_keys_value_kept_off_the_command_line(
    deployed, monkeypatch
):
    argv = producer_argv(["--stack", "nrt-inference", "--region", "eu-west-1", "--profile", "spike"])

    assert argv == ["--profile", "spike", "--url", "https://abc.execute-api.eu-west-1.amazonaws.com/prod"]
    assert os.environ["NRT_API_KEY"] == "the-producers-key-0123456789"


def test_given_stack_and_an_api_key_then_the_key_is_not_read(deployed):
    argv = producer_argv(["--stack", "nrt-inference", "--region", "eu-west-1", "--api-key", "mine"])

    assert argv[-2:] == ["--url", "https://abc.execute-api.eu-west-1.amazonaws.com/prod"]
    assert "NRT_API_KEY" not in os.environ


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--stack", "nrt-inference", "--region", "eu-west-1", "--url", "http://h:1"], "--stack and --url: give one"),
        (["--stack", "absent", "--region", "eu-west-1"], "--stack absent: cannot read stack 'absent'"),
    ],
)
def test_given_stack_with_a_url_or_a_stack_that_is_not_there_then_it_is_refused(deployed, flags, message):
    with pytest.raises(SystemExit, match=message):
        producer_argv(flags)
