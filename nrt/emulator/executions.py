"""Step Functions executions as AWS runs them: the state machine's type, no Express history,
terminal errors, the payload quota, States.Format, StartSyncExecution and StartExecution."""

from __future__ import annotations

import datetime
import functools
import json
import re
import uuid
from typing import Any

from nrt.emulator.registry import (
    add_attr,
    patch,
    rebind_in_interpreter,
    replace_attr,
)
from nrt.emulator.speed import forget_finished_threads

# --- the type a state machine was created with ------------------------------------------------


@patch(
    "fidelity",
    "a state machine runs as the type it was created with",
    "tests/workflow/test_emulator.py::test_a_state_machine_runs_as_the_type_it_was_created_with",
    upstream="docs/upstream/state-machine-type.md (not filed)",
)
def _patch_state_machine_type() -> None:
    from moto.stepfunctions.models import StateMachineInstance

    init = StateMachineInstance.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # moto keeps the type it was given in `type` (DescribeStateMachine answers it) but
        # sets `sm_type`, the one its interpreter runs executions as, to STANDARD for all.
        init(self, *args, **kwargs)
        self.sm_type = self.type

    replace_attr(StateMachineInstance, "__init__", functools.wraps(init)(__init__))


# --- Express executions keep no history -----------------------------------------------------


@patch(
    "fidelity",
    "Express executions keep no history",
    "tests/workflow/test_emulator.py::test_express_executions_record_no_history_and_standard_ones_still_do",
    upstream="docs/upstream/express-history.md (not filed)",
)
def _patch_express_history() -> None:
    from moto.stepfunctions.parser.api import StateMachineType
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    class IdsOnly(EventManager):
        """Numbers events (states link to their predecessors by id) but records none."""

        def add_event(
            self,
            context: Any,
            event_type: Any,
            event_details: Any = None,
            timestamp: Any = None,
            update_source_event_id: bool = True,
        ) -> int:
            with self._mutex:
                event_id: int = self._event_id_gen.get()
                context.last_published_event_id = event_id
                if update_source_event_id:
                    context.source_event_id = event_id
                return event_id

    entered = CommonStateField._get_state_entered_event_details
    exited = CommonStateField._get_state_exited_event_details

    # Every state's entered and exited events carry its input and output as JSON, each read
    # (a deep copy) and dumped: work thrown away when the events are not recorded.
    def _get_state_entered_event_details(self: Any, env: Any) -> Any:
        if isinstance(env.event_manager, IdsOnly):
            return {"name": self.name}
        return entered(self, env)

    def _get_state_exited_event_details(self: Any, env: Any) -> Any:
        if isinstance(env.event_manager, IdsOnly):
            env.variable_store.reset_tracing()  # what building the details also does
            return {"name": self.name}
        return exited(self, env)

    replace_attr(CommonStateField, "_get_state_entered_event_details", _get_state_entered_event_details)
    replace_attr(CommonStateField, "_get_state_exited_event_details", _get_state_exited_event_details)

    init = Environment.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # AWS keeps no execution history for Express workflows (GetExecutionHistory refuses
        # them); with no CloudWatch logging configured, nobody can read the events moto
        # builds, timestamps and stores for every state. Map iterations and inline states
        # run in frames that take over their parent's manager.
        init(self, *args, **kwargs)
        if self.execution_type == StateMachineType.EXPRESS and self.cloud_watch_logging_session is None:
            self.event_manager = IdsOnly()

    replace_attr(Environment, "__init__", functools.wraps(init)(__init__))


# --- States.ALL does not catch terminal errors ----------------------------------------------


@patch(
    "fidelity",
    "States.ALL does not catch States.DataLimitExceeded or States.Runtime",
    "tests/workflow/test_emulator.py::test_states_all_does_not_catch_a_payload_over_the_quota_as_on_aws",
    upstream="docs/upstream/uncatchable-errors.md (not filed)",
)
def _patch_uncatchable_errors() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    terminal = {StatesErrorNameType.StatesStatesDataLimitExceeded, StatesErrorNameType.StatesRuntime}
    matches = ErrorEqualsDecl._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        # AWS: "States.ALL ... can't catch the States.DataLimitExceeded terminal error type
        # and runtime error types". moto's wildcard matches every error.
        error = env.stack[-1]
        if (
            isinstance(error, StatesErrorName)
            and error.typ in terminal
            and all(isinstance(n, StatesErrorName) and n.typ == StatesErrorNameType.StatesALL for n in self.error_names)
        ):
            env.stack.pop()
            env.stack.append(False)
            return
        matches(self, env)

    replace_attr(ErrorEqualsDecl, "_eval_body", _eval_body)


# --- the payload quota counts UTF-8 bytes -----------------------------------------------------


def is_within_payload_quota(value: Any) -> bool:
    """AWS: at most 256 KiB "as a UTF-8 encoded string". moto measures JSON with every
    non-ASCII character escaped (\\uXXXX, 6 bytes for what UTF-8 holds in 2 or 3)."""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text: str = value
    return len(text.encode("utf-8")) <= MAX_PAYLOAD_BYTES


@patch(
    "fidelity",
    "the 256 KiB payload quota counts UTF-8 bytes",
    "tests/workflow/test_inference_workflow.py::test_given_the_largest_body_the_api_accepts_when_scored_then_no_state_outgrows_the_payload_quota",
    upstream="docs/upstream/payload-quota.md (not filed)",
)
def _patch_payload_quota() -> None:
    from moto.stepfunctions.parser import quotas

    rebind_in_interpreter("is_within_size_quota", quotas.is_within_size_quota, is_within_payload_quota)


# --- States.Format keeps escaped braces -------------------------------------------------------


@patch(
    "fidelity",
    "States.Format reads \\{ and \\} as braces",
    "tests/workflow/test_emulator.py::test_states_format_reads_escaped_braces_as_text",
    upstream="docs/upstream/string-format.md (not filed)",
)
def _patch_string_format() -> None:
    from moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.generic.string_format import (
        StringFormat,
    )

    def _eval_body(self: Any, env: Any) -> None:
        # AWS: \{ \} \' \\ in the template are literal characters; only {} is a placeholder.
        # moto keeps the escapes and runs Python's str.format, which reads every brace as a
        # field ('\{"instances":{}\}' fails). Read escapes, fill each {} in turn.
        self.argument_list.eval(env=env)
        args = env.stack.pop()
        values = iter(map(self._to_str_repr, args[1:]))

        def part(match: re.Match[str]) -> str:
            return match.group(1) if match.group(1) is not None else next(values)

        # moto reads the literal from the definition's JSON text, so JSON's \\ is still doubled.
        template = str(args[0]).replace("\\\\", "\\")
        env.stack.append(re.sub(r"\\(.)|\{\}", part, template))

    replace_attr(StringFormat, "_eval_body", _eval_body)


# --- StartSyncExecution -------------------------------------------------------------------


# Step Functions' payload quota: an execution's input, and each state's input and output.
MAX_PAYLOAD_BYTES = 256 * 1024

# StartExecution's name rule: 1-80 characters, none of these, no control characters.
_NAME_REFUSED = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def _aws_error(type_: str) -> type[Exception]:
    from moto.core.exceptions import AWSError

    return type(type_, (AWSError,), {"TYPE": type_, "STATUS": 400})


def aws_errors() -> tuple[type[Exception], ...]:
    """moto's error base classes: what a service call raises for an AWS error answer."""
    from moto.core.exceptions import JsonRESTError

    return (JsonRESTError,)


def error_answer(error: Exception) -> tuple[int, bytes]:
    """An error the emulated service raised, as the AWS JSON protocol answers it."""
    body = {"__type": str(getattr(error, "error_type", "")), "message": str(getattr(error, "message", error))}
    return int(getattr(error, "code", 400)), json.dumps(body).encode()


def check_execution_name(name: str | None) -> None:
    """Refuse a name StartExecution/StartSyncExecution would refuse (InvalidName)."""
    if name is None:
        return
    if not 1 <= len(name) <= 80 or _NAME_REFUSED.search(name):
        raise _aws_error("InvalidName")(f"Invalid Name: '{name}'")


def check_execution_input(execution_input: str) -> None:
    """Refuse an input StartExecution/StartSyncExecution would refuse."""
    if len(execution_input.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise validation_error(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_PAYLOAD_BYTES}"
        )
    try:
        json.loads(execution_input)
    except ValueError:
        raise _aws_error("InvalidExecutionInput")("Invalid State Machine Execution Input") from None


def throttling(message: str) -> Exception:
    return _aws_error("ThrottlingException")(message)


def execution_exists(name: str) -> Exception:
    return _aws_error("ExecutionAlreadyExists")(f"Execution Already Exists: '{name}'")


def validation_error(message: str) -> Exception:
    return _aws_error("ValidationException")(message)


def start_sync_execution(
    state_machine_arn: str,
    execution_input: str,
    name: str | None = None,
    *,
    account: str,
    region: str,
) -> dict[str, Any]:
    """Run an Express execution to its end in this thread; StartSyncExecution's response shape."""
    from moto.stepfunctions.parser.backend.execution import SyncExecution
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(account, region)
    state_machine: Any = backend.describe_state_machine(state_machine_arn)
    if state_machine.sm_type != "EXPRESS":
        from moto.core.exceptions import AWSError

        class StateMachineTypeNotSupported(AWSError):
            TYPE = "StateMachineTypeNotSupported"
            STATUS = 400

        raise StateMachineTypeNotSupported("This operation is not supported by this type of state machine")
    check_execution_name(name)
    check_execution_input(execution_input)
    name = name or uuid.uuid4().hex
    execution = SyncExecution(
        name=name,
        sm_type=state_machine.sm_type,
        role_arn=state_machine.roleArn,
        exec_arn=f"arn:aws:states:{region}:{account}:express:{state_machine.name}:{name}:{uuid.uuid4()}",
        account_id=account,
        region_name=region,
        state_machine=state_machine,
        start_date=datetime.datetime.now(tz=datetime.UTC),
        cloud_watch_logging_session=None,
        input_data=execution_input,
        trace_header=None,
        activity_store={},
    )
    # Express executions are not kept for DescribeExecution on AWS either.
    execution.start()
    forget_finished_threads()
    out: dict[str, Any] = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": state_machine_arn,
        "name": name,
        "startDate": execution.start_date,
        "stopDate": execution.stop_date,
        "status": str(execution.sync_execution_status.value if execution.sync_execution_status else "FAILED"),
        "input": execution_input,
    }
    if execution.output is not None:
        out["output"] = json.dumps(execution.output, separators=(",", ":"))
    if execution.error is not None:
        out["error"] = execution.error
    if execution.cause is not None:
        out["cause"] = execution.cause
    return out


@patch(
    "fidelity",
    "StartSyncExecution runs an Express execution to its end",
    "tests/workflow/test_emulator.py::test_start_sync_execution_is_served_over_the_api_like_aws",
    upstream="docs/upstream/start-sync-execution.md (not filed)",
)
def _patch_start_sync_execution() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def start_sync_execution_action(self: Any) -> Any:
        result = start_sync_execution(
            self._get_param("stateMachineArn"),
            self._get_param("input", if_none="{}"),
            self._get_param("name"),
            account=self.current_account,
            region=self.region,
        )
        return ActionResult(result)

    add_attr(StepFunctionResponse, "start_sync_execution", start_sync_execution_action)


# --- StartExecution and ListExecutions as AWS answers them -----------------------------------


@patch(
    "fidelity",
    "StartExecution makes up a name and checks name and input; ListExecutions refuses Express",
    "tests/workflow/test_aws_cli.py::test_start_execution_without_a_name_works_every_time",
    upstream="docs/upstream/start-execution.md (not filed)",
)
def _patch_start_execution() -> None:
    from moto.stepfunctions.responses import StepFunctionResponse

    start = StepFunctionResponse.start_execution
    list_executions = StepFunctionResponse.list_executions

    def start_execution(self: Any) -> Any:
        # AWS makes up a name when none is given; moto uses None, so a second call without
        # a name answers ExecutionAlreadyExists (...:None). AWS also checks name and input.
        from moto.core.responses import ActionResult

        name = self._get_param("name")
        execution_input = self._get_param("input", if_none="{}")
        check_execution_name(name)
        check_execution_input(execution_input)
        execution = self.stepfunction_backend.start_execution(
            self._get_param("stateMachineArn"), name or str(uuid.uuid4()), execution_input
        )
        return ActionResult({"executionArn": execution.execution_arn, "startDate": execution.start_date})

    def list_executions_action(self: Any) -> Any:
        # ListExecutions does not list Express executions: AWS refuses the call.
        machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
        if machine.sm_type == "EXPRESS":
            raise _aws_error("StateMachineTypeNotSupported")(
                "This operation is not supported by this type of state machine"
            )
        return list_executions(self)

    replace_attr(StepFunctionResponse, "start_execution", functools.wraps(start)(start_execution))
    replace_attr(StepFunctionResponse, "list_executions", functools.wraps(list_executions)(list_executions_action))
