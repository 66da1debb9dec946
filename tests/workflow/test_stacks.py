"""nrt/ops/stacks.py: the local and a deployed stack behind one object (the commands never ask which)."""

from __future__ import annotations

import socket

import pytest

from nrt import cli
from nrt.cli.common import stack_of
from nrt.ops.deploy import stack_target
from nrt.ops.target import image_uri


def test_local_and_deployed_stacks_are_one_seam():
    from nrt.ops import stacks

    parser = cli.build_parser()
    with socket.create_server(("127.0.0.1", 0)) as listening:  # the local stack must answer
        port = str(listening.getsockname()[1])
        local = stack_of(parser.parse_args(["retrain", "pump", "--local", "--aws-port", port]))
    assert local.local and local.output("FailuresTableName") == "nrt-local-failures"
    assert local.output("OutcomesTableName") == "nrt-local-outcomes"
    assert local.output("RetrainStateMachineArn").endswith(":stateMachine:nrt-local-retrain")
    assert stack_target(local).bucket == "nrt-local-model-artifacts"
    assert local.output("SklearnImageUri") == image_uri("us-east-1")
    with pytest.raises(stacks.StackError, match="has no output Nope"):
        local.output("Nope")
