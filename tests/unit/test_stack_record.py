"""How a command finds the running `nrt up`: <state-dir>/stack.json (nrt/statedir.py), read by
nrt/ops/stacks.py, with an error that names the state dir and the address tried."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nrt.cli.stack import producer_argv
from nrt.ops import stacks
from nrt.ops.stacks import StackError
from nrt.statedir import StackRecord, StateDir, read_stack_record, remove_stack_record, write_stack_record


def a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_record_round_trips_and_a_damaged_one_is_no_record(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    record = StackRecord("http://127.0.0.1:3100", "http://127.0.0.1:4600", 42, True)
    write_stack_record(state, record)
    assert read_stack_record(state) == record
    state.stack.write_text('{"api_url": "http://127.0.0.1:3100"')  # cut short
    assert read_stack_record(state) is None
    remove_stack_record(state)
    assert read_stack_record(state) is None


def test_a_listening_stack_is_found_by_its_state_dir_alone(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        write_stack_record(StateDir(tmp_path), StackRecord("http://127.0.0.1:1", url, 1, False))
        stack = stacks.local(tmp_path)  # pid 1 is alive: init
        assert stack.local
        assert stack.api_url == "http://127.0.0.1:1"


def test_a_record_whose_process_ended_says_so(tmp_path: Path) -> None:
    pid = a_dead_pid()
    write_stack_record(StateDir(tmp_path), StackRecord("http://127.0.0.1:1", "http://127.0.0.1:2", pid, False))
    with pytest.raises(StackError, match=rf"names pid {pid}, which has ended.*nrt up --state-dir {tmp_path}"):
        stacks.local(tmp_path)


@pytest.mark.parametrize("probe", ["aws", "api"])
def test_nothing_recorded_and_nothing_listening_names_the_state_dir_and_the_address(tmp_path: Path, probe: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    address = f"http://127.0.0.1:{port}"
    kwargs = {"aws_port": port} if probe == "aws" else {"api_url": address}
    with pytest.raises(StackError) as error:
        stacks.local(tmp_path, probe=probe, **kwargs)  # type: ignore[arg-type]
    assert f"nothing answers at {address}" in str(error.value)
    assert f"{tmp_path}/stack.json records no running stack" in str(error.value)


def test_produce_takes_state_dir_as_every_command_does_and_sends_to_the_recorded_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = StateDir(tmp_path)
    write_stack_record(state, StackRecord("http://127.0.0.1:3100", "http://127.0.0.1:4600", 1, True))
    state.api_key.write_text("k3y\n")
    monkeypatch.delenv("NRT_API_KEY", raising=False)

    argv = producer_argv(["--count", "3", "--state-dir", str(tmp_path)])

    assert argv == ["--count", "3", "--url", "http://127.0.0.1:3100"]
    assert os.environ["NRT_API_KEY"] == "k3y"  # in the environment, not on the command line
    assert producer_argv(["--url", "http://x", "--state-dir", str(tmp_path)]) == ["--url", "http://x"]


def test_nrt_produce_help_names_state_dir_beside_the_producers_own_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from nrt.cli import main

    with pytest.raises(SystemExit) as done:
        main(["produce", "--help"])

    out = capsys.readouterr().out
    assert done.value.code == 0
    assert "--state-dir DIR" in out and "--url URL" in out
