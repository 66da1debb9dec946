"""`nrt produce --stack NAME`: the producer sends to a deployed stack's ApiUrl with its API key's
value, read through CloudFormation and API Gateway (the embedded AWS standing in for the account)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from nrt.cli.stack import producer_argv
from nrt.emulator.server import EmbeddedAws, local_client


@pytest.fixture
def deployed(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A stack `nrt-inference` in eu-west-1 with the template's ApiUrl and ApiKeyId outputs, on the
    embedded AWS, which boto3 reaches through $AWS_ENDPOINT_URL (as it would an account)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": aws.url,
        "NRT_API_KEY": "",  # set, then removed: the key the test puts there is removed after it
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NRT_API_KEY")
    apigateway = local_client("apigateway", aws.url, "eu-west-1")
    key = apigateway.create_api_key(name="producer", value="the-producers-key-0123456789", enabled=True)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "ApiUrl": {"Value": "https://abc.execute-api.eu-west-1.amazonaws.com/prod"},
            "ApiKeyId": {"Value": key["id"]},
        },
    }
    cloudformation = local_client("cloudformation", aws.url, "eu-west-1")
    cloudformation.create_stack(StackName="nrt-inference", TemplateBody=json.dumps(template))
    yield
    cloudformation.delete_stack(StackName="nrt-inference")
    apigateway.delete_api_key(apiKey=key["id"])


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
