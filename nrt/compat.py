"""The embedded AWS: moto, patched where it differs from AWS (fidelity) or where it does work
the local stack does not need (speed).

Every patch is a `_patch_*` function registered with `@patch(kind, what, test)`: what AWS
does (or what the speed-up saves) and the test that proves it. `install()` applies them in
order, refuses a moto whose code under a patch changed since the fingerprints in
compat_fingerprints.json were taken, and checks that every rebind reached every module.
`NRT_EMULATOR_SPEEDUPS=0` applies the fidelity patches only. The ASL is never changed to
suit moto. `python -m nrt.compat table` prints the registry (the README carries it).
"""

from __future__ import annotations

import calendar
import copy
import datetime
import functools
import hashlib
import http.client
import inspect
import json
import logging
import os
import queue
import re
import sys
import threading
import types
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

MOTO_VERSION = "5.2.5"

# Runs a training job on this machine: (job name, hyperparameters, channels) -> (model.tar.gz
# bytes, the job's log).
TrainingRunner = Callable[[str, dict[str, str], dict[str, dict[str, bytes]]], tuple[bytes, str]]
# Calls a model host: (base URL, body, content type) -> (status, body).
ModelCall = Callable[[str, bytes, str], tuple[int, bytes]]


@dataclass
class Wiring:
    """What the local runtime plugs into the embedded AWS, in one place: the model host of each
    endpoint, how a training job runs, and how a model host is called (faults wrap this)."""

    model_hosts: dict[str, str] = field(default_factory=dict)  # endpoint -> base URL
    training_runner: TrainingRunner | None = None  # None: training jobs fail with a reason
    model_call: ModelCall | None = None  # None: invoke_model_host


WIRING = Wiring()

_installed = False
_lock = threading.Lock()


class CompatError(RuntimeError):
    """moto is not the version this module was written against."""


def check_moto_version(found: str) -> None:
    """Refuse to patch a moto this module was not written and tested against."""
    if found != MOTO_VERSION:
        raise CompatError(f"nrt.compat is written for moto {MOTO_VERSION}, found {found}; pin moto=={MOTO_VERSION}")


# --- the registry: every patch, what it restores or saves, and its proof ----------------------

SPEEDUPS_SETTING = "NRT_EMULATOR_SPEEDUPS"  # "0": apply the fidelity patches only
FINGERPRINTS = Path(__file__).with_name("compat_fingerprints.json")


@dataclass(frozen=True)
class Patch:
    """One patch of moto: fidelity (what AWS does) or speed (same behaviour, less work)."""

    name: str
    kind: str
    aws: str
    test: str
    upstream: str
    apply: Callable[[], None]


REGISTRY: list[Patch] = []
_APPLYING: list[str] = []  # the patch being applied (what _replace, _add and _rebind record under)
_TOUCHED: dict[str, dict[str, str]] = {}  # patch -> {what it changes in moto: fingerprint}
_REBOUND: list[tuple[str, str, Any]] = []  # (patch, name, the object it replaced everywhere)


def check_rebinds() -> None:
    """After every patch: no module of the interpreter may still hold what a rebind replaced
    (a module loaded after the rebind would keep the original, silently)."""
    for patch_name, name, old in _REBOUND:
        left = [
            m
            for m, module in list(sys.modules.items())
            if m.startswith("moto.stepfunctions.parser") and getattr(module, name, None) is old
        ]
        if left:
            raise CompatError(f"patch {patch_name}: {name} is still the original in {left}")


def patch(
    kind: str, aws: str, test: str, upstream: str = "none yet"
) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register a patch function; install() applies them in this order."""

    def register(apply: Callable[[], None]) -> Callable[[], None]:
        name = apply.__name__.removeprefix("_patch_").replace("_", "-")
        REGISTRY.append(Patch(name, kind, aws, test, upstream, apply))
        return apply

    return register


def fingerprint(value: Any) -> str:
    """What a patch rewrites, as moto has it: a hash of its source (or of its repr)."""
    try:
        text = inspect.getsource(value)
    except (TypeError, OSError):
        text = repr(value)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _record(target: str, value: str) -> None:
    if _APPLYING:
        _TOUCHED.setdefault(_APPLYING[0], {})[f"{_APPLYING[0]}: {target}"] = value


def _qualname(owner: Any, name: str) -> str:
    if isinstance(owner, types.ModuleType):
        return f"{owner.__name__}.{name}"
    return f"{owner.__module__}.{owner.__qualname__}.{name}"


def expected_fingerprints() -> dict[str, str]:
    found: dict[str, str] = json.loads(FINGERPRINTS.read_text())
    return found


def check_fingerprints(applied: dict[str, str], expected: dict[str, str]) -> None:
    """Fail, naming the patch, when moto's code under a patch is not what it was written for."""
    for key, value in sorted(applied.items()):
        if key in expected and expected[key] != value:
            raise CompatError(
                f"patch {key.split(':', 1)[0]}: moto's {key.split(': ', 1)[1]} changed since moto {MOTO_VERSION} "
                f"(fingerprint {value}, expected {expected[key]}); review the patch, then "
                "python -m nrt.compat fingerprints > nrt/compat_fingerprints.json"
            )
        if key not in expected:
            raise CompatError(f"patch {key.split(':', 1)[0]}: {key.split(': ', 1)[1]} has no recorded fingerprint")


def install(port: int | None = None) -> None:
    """Apply every patch once; `port` is the embedded AWS's port (sets MOTO_PORT)."""
    global _installed
    if port is not None:
        os.environ["MOTO_PORT"] = str(port)
    with _lock:
        if _installed:
            return
        check_moto_version(version("moto"))
        speedups = os.environ.get(SPEEDUPS_SETTING, "1") != "0"
        applied: dict[str, str] = {}
        for entry in REGISTRY:
            if entry.kind == "speed" and not speedups:
                continue
            _APPLYING[:] = [entry.name]
            entry.apply()
            applied.update(_TOUCHED.pop(entry.name, {}))
        _APPLYING.clear()
        check_rebinds()
        check_fingerprints(applied, expected_fingerprints())
        _installed = True


def _replace(owner: Any, name: str, value: Any) -> None:
    """Patch owner.name; refuses a name moto does not have (a rename would otherwise go unnoticed)."""
    if not hasattr(owner, name):
        raise CompatError(f"moto {MOTO_VERSION}: {owner!r} has no {name!r} to patch")
    _record(_qualname(owner, name), fingerprint(getattr(owner, name)))
    setattr(owner, name, value)


def _add(owner: Any, name: str, value: Any) -> None:
    """Add what moto lacks; refuses if moto has grown its own (then this patch should go)."""
    if hasattr(owner, name):
        raise CompatError(f"moto {MOTO_VERSION}: {owner!r} already has {name!r}")
    _record(_qualname(owner, name), "absent")
    setattr(owner, name, value)


def _rebind_in_interpreter(name: str, old: Any, new: Any) -> None:
    """Point every module of moto's interpreter that holds `old` under `name` at `new`.

    The parser is imported first, so that every state and service module is loaded and
    none keeps the old binding because it happened to be imported later.
    """
    import moto.stepfunctions.parser.asl.parse.asl_parser
    import moto.stepfunctions.parser.backend.execution  # noqa: F401

    rebound = []
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("moto.stepfunctions.parser") and getattr(module, name, None) is old:
            setattr(module, name, new)
            rebound.append(module_name)
    _REBOUND.append((_APPLYING[0] if _APPLYING else name, name, old))
    # Which modules held it: a module that starts or stops using it changes this.
    _record(f"rebind {name}", hashlib.sha256(",".join(sorted(rebound)).encode()).hexdigest()[:16])


# --- aws-sdk service names ---------------------------------------------------------------


@patch(
    "fidelity",
    "aws-sdk:sagemakerruntime:* reaches boto3 service sagemaker-runtime",
    "tests/workflow/test_compat.py::test_the_sagemakerruntime_sdk_integration_runs_and_its_blob_output_is_a_string",
)
def _patch_service_names() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    # Step Functions says "sagemakerruntime"; boto3 calls the service "sagemaker-runtime".
    StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES["sagemakerruntime"] = "sagemaker-runtime"


# --- error names -------------------------------------------------------------------------

# The PascalCase service names Step Functions uses in aws-sdk error names.
SDK_ERROR_SERVICE_NAMES = {"sagemakerruntime": "SageMakerRuntime", "sagemaker": "SageMaker", "dynamodb": "DynamoDb"}


def sdk_error_name(service: str, code: str) -> str:
    """AWS: `ServiceName.ErrorCode`, with an `Exception` suffix where the code lacks one."""
    name = SDK_ERROR_SERVICE_NAMES.get(service.lower(), service)
    return f"{name}.{code}" if code.endswith("Exception") else f"{name}.{code}Exception"


@patch(
    "fidelity",
    "aws-sdk errors are named ServiceName.ErrorCode[Exception]",
    "tests/workflow/test_compat.py::test_sdk_errors_are_named_service_dot_code_exception_as_aws_names_them",
)
def _patch_error_names() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as sdk,
    )

    original = sdk.StateTaskServiceAwsSdk._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        code = ex.response.get("Error", {}).get("Code", "Unknown")
        error = sdk_error_name(self.resource.api_name, code)
        meta = ex.response.get("ResponseMetadata", {})
        cause = (
            f"{ex.response['Error'].get('Message', '')} (Service: {error.split('.')[0]}, "
            f"Status Code: {meta.get('HTTPStatusCode')}, Request ID: {meta.get('RequestId')})"
        )
        return self._get_task_failure_event(env=env, error=error, cause=cause)

    _replace(sdk.StateTaskServiceAwsSdk, "_from_error", _from_error)


# --- aws-sdk task: blob outputs as strings ------------------------------------------------


def blobs_to_strings(response: dict[str, Any]) -> dict[str, Any]:
    """AWS hands blob outputs (e.g. InvokeEndpoint's Body) on as strings."""
    out: dict[str, Any] = {}
    for key, value in response.items():
        if hasattr(value, "read"):
            raw = value.read()
            out[key] = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        elif isinstance(value, bytes):
            out[key] = value.decode("utf-8")
        else:
            out[key] = value
    return out


@patch(
    "fidelity",
    "blob outputs are handed on as strings",
    "tests/workflow/test_compat.py::test_the_sagemakerruntime_sdk_integration_runs_and_its_blob_output_is_a_string",
)
def _patch_sdk_task() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as sdk,
    )

    def _eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        client = getattr(sdk, "boto_client_for")(  # noqa: B009 - looked up per call: the client cache patches it
            service=self._get_boto_service_name(),
            region=resource_runtime_part.region,
            state_credentials=state_credentials,
        )
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters) or {}
        response.pop("ResponseMetadata", None)
        env.stack.append(blobs_to_strings(response))

    _replace(sdk.StateTaskServiceAwsSdk, "_eval_service_task", _eval_service_task)


# --- $$.Execution.StartTime ---------------------------------------------------------------


def iso_timestamp(moment: datetime.datetime) -> str:
    """The context object's time format: ISO-8601, UTC, milliseconds, 'Z'."""
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@patch(
    "fidelity",
    "$$.Execution.StartTime is an ISO-8601 string",
    "tests/workflow/test_compat.py::test_the_execution_start_time_in_the_context_object_is_an_iso_string",
)
def _patch_context_start_time() -> None:
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.get_start_execution_details

    def get_start_execution_details(self: Any) -> Any:
        details = original(self)
        if isinstance(details.start_time, datetime.datetime):
            details.start_time = iso_timestamp(details.start_time)
        return details

    _replace(Execution, "get_start_execution_details", get_start_execution_details)


# --- one boto3 client per service ---------------------------------------------------------


class InProcessClient:
    """A boto3 client whose calls go straight to moto's handler in this process.

    With moto's stubber, each call of the interpreter builds a request through botocore's
    whole send path (parameter events, endpoint rules, user agent, signing) and moto then
    matches its URL against every service's patterns, only to reach a handler in the same
    process: about 1 ms of CPU per call, more than the DynamoDB write itself. Here the
    request is serialized by the client's own serializer, handed to the handler that URL
    resolves to (looked up once per URL), and the answer parsed by the client's own parser,
    so the handler sees the bytes and headers it sees now, and errors are the same
    ClientError classes.
    """

    def __init__(self, client: Any) -> None:
        from botocore.awsrequest import AWSPreparedRequest

        self._client = client
        self._prepared = AWSPreparedRequest
        self._handlers: dict[str, Any] = {}
        region = client.meta.region_name
        service = client.meta.service_model.signing_name
        # moto reads the account from the credential scope; the signature it never checks.
        self._authorization = f"AWS4-HMAC-SHA256 Credential=ak/20260101/{region}/{service}/aws4_request"

    def __getattr__(self, method: str) -> Any:
        operation = self._client.meta.method_to_api_mapping.get(method)
        if operation is None:
            return getattr(self._client, method)
        call = functools.partial(self._call, operation)
        setattr(self, method, call)
        return call

    def _handler(self, url: str) -> Any:
        handler = self._handlers.get(url)
        if handler is None:
            import moto.backend_index as backend_index
            import moto.backends as backends
            from moto.core.models import DEFAULT_ACCOUNT_ID

            for service, pattern in backend_index.backend_url_patterns:
                if pattern.match(url):
                    regions = backends.get_backend(service)[DEFAULT_ACCOUNT_ID]  # type: ignore[call-overload]
                    backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
                    handler = next((h for u, h in backend.urls.items() if re.match(u, url)), None)
                    break
            if handler is None:
                raise CompatError(f"moto {MOTO_VERSION} has no handler for {url}")
            self._handlers[url] = handler
        return handler

    def _call(self, operation_name: str, **params: Any) -> dict[str, Any]:
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders
        from botocore.endpoint import convert_to_response_dict
        from moto.core.botocore_stubber import MockRawResponse
        from moto.core.request import normalize_request
        from werkzeug.exceptions import HTTPException

        client = self._client
        operation = client.meta.service_model.operation_model(operation_name)
        request = client._serializer.serialize_to_request(params, operation)
        path = client.meta.endpoint_url + request["url_path"]
        query = urllib.parse.urlencode(request["query_string"], doseq=True) if request["query_string"] else ""
        headers = HTTPHeaders()
        for name, value in request["headers"].items():
            headers[name] = value
        headers["Authorization"] = self._authorization
        prepared = self._prepared(
            method=request["method"],
            url=f"{path}?{query}" if query else path,
            headers=headers,
            body=request["body"],
            stream_output=False,
        )
        normalized = normalize_request(prepared)
        try:
            status, out_headers, body = self._handler(path)(normalized, normalized.raw_url, normalized.headers)
        except HTTPException as exc:
            status, out_headers, body = exc.code, exc.get_headers(), exc.get_body()
        raw = AWSResponse(path, status, out_headers, MockRawResponse(body))
        parsed: dict[str, Any] = client._response_parser.parse(
            convert_to_response_dict(raw, operation), operation.output_shape
        )
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = status
        if status >= 300:
            code = parsed.get("Error", {}).get("Code")
            raise client.exceptions.from_code(code)(parsed, operation_name)
        return parsed


@patch(
    "speed",
    "each handler class's actions are listed once",
    "tests/workflow/test_compat.py::test_each_handler_class_s_actions_are_listed_once_and_include_what_compat_adds",
)
def _patch_action_lookup() -> None:
    from moto.core import responses

    # moto lists a handler class's methods with inspect.getmembers on every request, to see
    # whether the action is one of them: about 0.3 ms a call. The classes are complete once
    # install() has run, so each class's names are listed once.
    listed = getattr(responses, "method_names_from_class")  # noqa: B009 - not re-exported

    @functools.cache
    def method_names_from_class(clazz: object) -> frozenset[str]:
        return frozenset(listed(clazz))

    _replace(responses, "method_names_from_class", method_names_from_class)


@patch(
    "speed",
    "one boto3 client per service, calls reach moto in process",
    "tests/workflow/test_compat.py::test_every_task_service_reuses_one_client_per_service",
)
def _patch_client_cache() -> None:
    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.utils import boto_client as bc

    original: Callable[..., Any] = bc.boto_client_for
    clients: dict[tuple[str, str, str], Any] = {}

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, os.environ.get("MOTO_PORT", ""))
        client = clients.get(key)
        if client is None:
            with _lock:
                client = clients.get(key) or original(region, service, state_credentials)
                if botocore_stubber.enabled and not isinstance(client, InProcessClient):
                    client = InProcessClient(client)
                clients[key] = client
        return client

    _rebind_in_interpreter("boto_client_for", original, boto_client_for)


# --- parse each definition once -----------------------------------------------------------


@patch(
    "speed",
    "each definition is parsed once",
    "tests/workflow/test_compat.py::test_one_parsed_definition_serves_concurrent_executions_without_mixing_them",
)
def _patch_parse_cache() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    programs: dict[str, Any] = {}

    def _get_evaluation_entrypoint(self: Any) -> Any:
        # The parsed program keeps no per-execution state (that lives in the Environment),
        # so one parse serves every execution of the same definition.
        definition = self._evaluation_details.state_machine_details.definition
        program = programs.get(definition)
        if program is None:
            program = AmazonStateLanguageParser.parse(definition)[0]
            programs[definition] = program
        return program

    _replace(ExecutionWorker, "_get_evaluation_entrypoint", _get_evaluation_entrypoint)


# --- compile each JSONPath once -----------------------------------------------------------


@patch("speed", "each JSONPath is compiled once", "tests/workflow/test_compat.py::test_jsonpaths_are_compiled_once")
def _patch_jsonpath_cache() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # Compiled paths are immutable; the set of distinct paths is bounded by the definitions.
    # Both modules import their own jsonpath_ng parse function: cache each.
    for module in (json_path, result_path):
        _replace(module, "parse", functools.lru_cache(maxsize=4096)(getattr(module, "parse")))  # noqa: B009


def _forget_finished_threads() -> None:
    from moto.stepfunctions.parser.utils import TMP_THREADS

    TMP_THREADS[:] = [t for t in TMP_THREADS if t.is_alive()]


# --- deep copies of state data ------------------------------------------------------------

_IMMUTABLE = (str, int, float, bool, type(None))
_PLAIN_OBJECTS: set[type] = set()


def json_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy for JSON-shaped data, ~3x faster; anything else goes to copy.deepcopy."""
    if memo is not None:
        return copy.deepcopy(value, memo)
    kind = type(value)
    if kind is dict:
        return {k: json_deepcopy(v) for k, v in value.items()}
    if kind is list:
        return [json_deepcopy(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    if kind in _PLAIN_OBJECTS:
        clone = object.__new__(kind)
        clone.__dict__.update(json_deepcopy(value.__dict__))
        return clone
    return copy.deepcopy(value)


@patch(
    "speed",
    "state data is deep-copied by a JSON-specific copier",
    "tests/workflow/test_compat.py::test_the_interpreter_uses_the_json_deepcopy",
)
def _patch_json_deepcopy() -> None:
    from moto.stepfunctions.parser.asl.eval import program_state as ps

    # The program's state is copied on every step; these classes hold only their __dict__
    # (names, dates, an error dict), so copying that is what copy.deepcopy does, 4x faster.
    _PLAIN_OBJECTS.update((ps.ProgramEnded, ps.ProgramStopped, ps.ProgramRunning, ps.ProgramError, ps.ProgramTimedOut))
    # The interpreter deep-copies the state input on every read (about 90 times for one
    # reading, and once per Map iteration for the whole batch): half its CPU time.
    _rebind_in_interpreter("copy", copy, types.SimpleNamespace(deepcopy=json_deepcopy, copy=copy.copy))


# --- states without a timeout run inline ---------------------------------------------------


@patch(
    "speed",
    "states without TimeoutSeconds run in the caller thread",
    "tests/workflow/test_compat.py::test_a_task_runs_in_its_own_thread_only_when_it_declares_a_timeout",
)
def _patch_inline_states() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

    threaded = ExecutionState._evaluate_with_timeout

    def _evaluate_with_timeout(self: Any, env: Any) -> None:
        # moto runs every Task, Map and Parallel in a fresh thread only to be able to stop
        # waiting after TimeoutSeconds. A state that declares no timeout cannot time out, so
        # the thread buys nothing; here it runs in the caller's thread, in the same kind of
        # frame, and its result takes the same way back.
        if not self.timeout.is_default_value():
            threaded(self, env)
            return
        frame = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = json_deepcopy(env.stack)
        try:
            self._eval_execution(frame)
        finally:
            frame.set_ended()
            env.close_frame(frame)
        output = frame.stack[-1]
        env.stack.append(output)
        if not self._is_language_query_jsonpath():
            env.states.set_result(output)
        if self.assign_decl:
            self.assign_decl.eval(env=env)
        if self.result_selector:
            self.result_selector.eval(env=env)
        if self.result_path:
            self.result_path.eval(env)
        else:
            env.states.reset(input_value=env.stack.pop())

    _replace(ExecutionState, "_evaluate_with_timeout", _evaluate_with_timeout)


# --- programs without a timeout run inline --------------------------------------------------


@patch(
    "speed",
    "programs without TimeoutSeconds run in the caller thread",
    "tests/workflow/test_compat.py::test_an_execution_with_a_timeout_still_times_out",
)
def _patch_inline_programs() -> None:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program

    threaded = Program.eval

    def eval_program(self: Any, env: Any) -> None:
        # As for states: moto evaluates every program (the execution's, and each Map
        # iteration's) in a thread of its own only to stop waiting after TimeoutSeconds.
        # Without one, the caller's thread evaluates it; like the thread, an error that
        # escapes the program is logged and does not reach the caller.
        if self.timeout_seconds is not None and self.timeout_seconds.timeout_seconds is not None:
            threaded(self, env)
            return
        env.next_state_name = self.start_at.start_at_name
        try:
            EvalComponent.eval(self, env)
        except Exception:
            logging.getLogger(__name__).exception("state machine program stopped with an error")

    _replace(Program, "eval", eval_program)


@patch(
    "speed",
    "Map iterations read the Map input in place",
    "tests/workflow/test_compat.py::test_map_iterations_read_the_map_input_without_changing_it_for_each_other",
)
def _patch_item_selector_input() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        inline_item_processor_worker as worker,
    )

    def _eval_input(self: Any, env_frame: Any) -> None:
        # moto deep-copies the whole Map input (every reading of a batch, with its features
        # and scores) into each iteration, for the ItemSelector to read from: quadratic in
        # the batch. Reads copy what they take and the selector's output replaces the input
        # at once, so the Map input is referenced, as moto already does on the stack.
        if not self._parameters and not self._item_selector:
            return
        map_state_input = self._env.stack[-1]
        env_frame.states._states_data.update(input=map_state_input, result=None, errorOutput=None)
        env_frame.stack.append(map_state_input)
        if self._item_selector:
            self._item_selector.eval(env_frame)
        else:
            self._parameters.eval(env_frame)
        env_frame.states.reset(input_value=env_frame.stack[-1])

    _replace(worker.InlineItemProcessorWorker, "_eval_input", _eval_input)


@patch(
    "speed",
    "a Map starts at most one worker per item",
    "tests/workflow/test_compat.py::test_a_map_starts_at_most_one_worker_per_item_and_no_thread_per_iteration",
)
def _patch_map_workers() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_component import (
        InlineIterationComponent,
    )

    launch = InlineIterationComponent._launch_worker

    def _launch_worker(self: Any, env: Any, eval_input: Any, job_pool: Any) -> Any:
        # moto starts MaxConcurrency workers even for fewer items; the extra ones find no
        # job and end. One worker per item at most leaves the same concurrency.
        launched = getattr(job_pool, "nrt_workers", 0)
        if launched >= len(eval_input.input_items):
            return None
        job_pool.nrt_workers = launched + 1
        if len(eval_input.input_items) == 1:
            # One item has no one to run alongside: its worker runs in the Map's thread.
            worker = self._create_worker(env=env, eval_input=eval_input, job_pool=job_pool)
            worker.eval()
            return worker
        return launch(self, env, eval_input, job_pool)

    _replace(InlineIterationComponent, "_launch_worker", _launch_worker)


# --- the type a state machine was created with ------------------------------------------------


@patch(
    "fidelity",
    "a state machine runs as the type it was created with",
    "tests/workflow/test_compat.py::test_a_state_machine_runs_as_the_type_it_was_created_with",
)
def _patch_state_machine_type() -> None:
    from moto.stepfunctions.models import StateMachineInstance

    init = StateMachineInstance.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # moto keeps the type it was given in `type` (DescribeStateMachine answers it) but
        # sets `sm_type`, the one its interpreter runs executions as, to STANDARD for all.
        init(self, *args, **kwargs)
        self.sm_type = self.type

    _replace(StateMachineInstance, "__init__", functools.wraps(init)(__init__))


# --- Express executions keep no history -----------------------------------------------------


@patch(
    "fidelity",
    "Express executions keep no history",
    "tests/workflow/test_compat.py::test_express_executions_record_no_history_and_standard_ones_still_do",
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

    _replace(CommonStateField, "_get_state_entered_event_details", _get_state_entered_event_details)
    _replace(CommonStateField, "_get_state_exited_event_details", _get_state_exited_event_details)

    init = Environment.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # AWS keeps no execution history for Express workflows (GetExecutionHistory refuses
        # them); with no CloudWatch logging configured, nobody can read the events moto
        # builds, timestamps and stores for every state. Map iterations and inline states
        # run in frames that take over their parent's manager.
        init(self, *args, **kwargs)
        if self.execution_type == StateMachineType.EXPRESS and self.cloud_watch_logging_session is None:
            self.event_manager = IdsOnly()

    _replace(Environment, "__init__", functools.wraps(init)(__init__))


# --- States.ALL does not catch terminal errors ----------------------------------------------


@patch(
    "fidelity",
    "States.ALL does not catch States.DataLimitExceeded or States.Runtime",
    "tests/workflow/test_compat.py::test_states_all_does_not_catch_a_payload_over_the_quota_as_on_aws",
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

    _replace(ErrorEqualsDecl, "_eval_body", _eval_body)


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
)
def _patch_payload_quota() -> None:
    from moto.stepfunctions.parser import quotas

    _rebind_in_interpreter("is_within_size_quota", quotas.is_within_size_quota, is_within_payload_quota)


# --- States.Format keeps escaped braces -------------------------------------------------------


@patch(
    "fidelity",
    "States.Format reads \\{ and \\} as braces",
    "tests/workflow/test_compat.py::test_states_format_reads_escaped_braces_as_text",
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

    _replace(StringFormat, "_eval_body", _eval_body)


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
    _forget_finished_threads()
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
    "tests/workflow/test_compat.py::test_start_sync_execution_is_served_over_the_api_like_aws",
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

    _add(StepFunctionResponse, "start_sync_execution", start_sync_execution_action)


# --- StartExecution and ListExecutions as AWS answers them -----------------------------------


@patch(
    "fidelity",
    "StartExecution makes up a name and checks name and input; ListExecutions refuses Express",
    "tests/workflow/test_aws_cli.py::test_start_execution_without_a_name_works_every_time",
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

    _replace(StepFunctionResponse, "start_execution", functools.wraps(start)(start_execution))
    _replace(StepFunctionResponse, "list_executions", functools.wraps(list_executions)(list_executions_action))


# --- InvokeEndpoint reaches the model host ------------------------------------------------


# Idle kept-alive connections per model host, shared by all threads: moto runs every task
# state in a thread of its own, so a per-thread pool would never be reused.
_idle: dict[str, queue.SimpleQueue[http.client.HTTPConnection]] = {}


def invoke_model_host(base_url: str, body: bytes, content_type: str, timeout: float = 60.0) -> tuple[int, bytes]:
    """POST /invocations on a model host over a kept-alive connection; (status, body)."""
    idle = _idle.setdefault(base_url, queue.SimpleQueue())
    for attempt in (1, 2):
        try:
            conn = idle.get_nowait()
        except queue.Empty:
            parsed = urllib.parse.urlsplit(base_url)
            conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=timeout)
        try:
            conn.request(
                "POST", "/invocations", body=body, headers={"Content-Type": content_type, "Accept": "application/json"}
            )
            resp = conn.getresponse()
            answer = resp.status, resp.read()
        except (http.client.HTTPException, ConnectionError):
            # A kept-alive connection the host closed: reconnect once, then give up.
            conn.close()
            if attempt == 2:
                raise
            continue
        idle.put(conn)
        return answer
    raise AssertionError("unreachable")


@patch(
    "fidelity",
    "InvokeEndpoint reaches the model host: ValidationError, ModelError 424",
    "tests/workflow/test_compat.py::test_invoke_endpoint_reaches_the_model_host",
)
def _patch_invoke_endpoint() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.sagemaker.models import sagemaker_backends
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    class ModelError(JsonRESTError):
        code = 424

        def __init__(self, original_status: int, message: str, endpoint: str) -> None:
            text = f'Received {"client" if original_status < 500 else "server"} error ({original_status}) from primary with message "{message}".'  # noqa: E501
            super().__init__("ModelError", text)
            self.description = json.dumps(
                {
                    "__type": "ModelError",
                    "message": text,
                    "OriginalStatusCode": original_status,
                    "OriginalMessage": message,
                    "LogStreamArn": f"arn:aws:logs:::log-group:/aws/sagemaker/Endpoints/{endpoint}",
                }
            )

    def invoke_endpoint(self: Any) -> Any:
        name = self._get_params().get("EndpointName") or self.path.split("/")[2]
        endpoint = sagemaker_backends[self.current_account][self.region].endpoints.get(name)
        if endpoint is None:
            raise JsonRESTError("ValidationError", f"Endpoint {name} of account {self.current_account} not found.")
        host = WIRING.model_hosts.get(name)
        if host is None or endpoint.endpoint_status != "InService":
            raise JsonRESTError("ModelNotReadyException", f"Model for endpoint {name} is not ready.")
        try:
            payload = self.body.encode("utf-8") if isinstance(self.body, str) else bytes(self.body)
            call = WIRING.model_call or invoke_model_host
            status, body = call(host, payload, self.headers.get("Content-Type", "application/json"))
        except OSError as exc:
            raise JsonRESTError("ServiceUnavailable", f"model host for {name} is unreachable: {exc}") from None
        if status != 200:
            raise ModelError(status, body.decode("utf-8", "replace"), name)
        return (
            200,
            {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": "AllTraffic"},
            body,
        )

    _replace(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)


# --- UpdateEndpoint -----------------------------------------------------------------------


@patch(
    "fidelity",
    "UpdateEndpoint switches an endpoint to a new config",
    "tests/workflow/test_compat.py::test_update_endpoint_switches_an_endpoint_to_a_new_config_in_place",
)
def _patch_update_endpoint() -> None:
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def update_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str) -> Any:
        # moto has no UpdateEndpoint. AWS keeps the endpoint's name and ARN and switches it
        # to the new config's variants; Updating until the new variants serve, which on the
        # embedded AWS (no containers) is at once.
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        config = self.describe_endpoint_config(endpoint_config_name)  # ValidationError if missing
        endpoint.endpoint_config_name = endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.data_capture_config = config["DataCaptureConfig"]
        endpoint.last_modified_time = utcnow()
        endpoint.endpoint_status = "InService"
        return endpoint

    def update_endpoint_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        endpoint = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
        )
        return ActionResult({"EndpointArn": endpoint.arn})

    _add(SageMakerModelBackend, "update_endpoint", update_endpoint)
    _add(SageMakerResponse, "update_endpoint", update_endpoint_response)


# --- the optimised SageMaker integration ---------------------------------------------------


def epoch_ms_values(value: Any) -> Any:
    """Datetimes in an SDK response as epoch milliseconds, as Step Functions shows them."""
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: epoch_ms_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [epoch_ms_values(v) for v in value]
    return value


# The actions AWS documents for the optimised SageMaker integration.
SAGEMAKER_OPTIMISED_ACTIONS = {
    "createEndpoint",
    "createEndpointConfig",
    "createHyperParameterTuningJob",
    "createLabelingJob",
    "createModel",
    "createProcessingJob",
    "createTrainingJob",
    "createTransformJob",
    "updateEndpoint",
}


@functools.lru_cache(maxsize=1)
def _sagemaker_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


@patch(
    "fidelity",
    "the optimised SageMaker integration, with createTrainingJob.sync",
    "tests/workflow/test_compat.py::test_the_optimised_sagemaker_integration_forwards_request_response_actions",
)
def _patch_sagemaker_integration() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.event import event_detail
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    EventDetails: Any = event_detail.EventDetails  # a TypedDict with every event kind's key
    # moto sets up the task's callback endpoint only when .waitForTaskToken is listed, and its
    # .sync path needs that endpoint; the token pattern itself is refused below.
    patterns: set[Any] = {ResourceCondition.Sync, ResourceCondition.WaitForTaskToken}

    class StateTaskServiceSageMaker(StateTaskServiceCallback):
        """arn:aws:states:::sagemaker:<action>[.sync]: moto lists SageMaker as unsupported."""

        def __init__(self) -> None:
            super().__init__(supported_integration_patterns=patterns)

        def _wait_for_task_token(self, env: Any, resource_runtime_part: Any, normalised_parameters: Any) -> None:
            raise RuntimeError(f"{self.resource.resource_arn}: .waitForTaskToken is not supported")

        def _get_supported_parameters(self) -> set[str] | None:
            action = self.resource.api_action
            if action not in SAGEMAKER_OPTIMISED_ACTIONS:
                return None  # moto then refuses the resource, as AWS does
            return set(_sagemaker_model().operation_model(action[0].upper() + action[1:]).input_shape.members)

        def _client(self, resource_runtime_part: Any, credentials: Any) -> Any:
            return boto_client.boto_client_for(
                service="sagemaker", region=resource_runtime_part.region, state_credentials=credentials
            )

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                name = f"SageMaker.{ex.response['Error']['Code']}"
                return FailureEvent(
                    env=env,
                    error_name=CustomErrorName(name),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            error=name,
                            cause=ex.response["Error"]["Message"],
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                        )
                    ),
                )
            return super()._from_error(env=env, ex=ex)

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
        ) -> None:
            client = self._client(resource_runtime_part, state_credentials)
            response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
            response.pop("ResponseMetadata", None)
            env.stack.append(epoch_ms_values(response))

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
        ) -> Callable[[], Any]:
            action = self._get_boto_service_action()
            if action != "create_training_job":
                raise ValueError(f"sagemaker:{action}.sync is not supported locally")
            client = self._client(resource_runtime_part, state_credentials)
            name = normalised_parameters["TrainingJobName"]

            def resolve() -> Any:
                # AWS's .sync answer for a training job is its DescribeTrainingJob.
                job = client.describe_training_job(TrainingJobName=name)
                job.pop("ResponseMetadata", None)
                status = job["TrainingJobStatus"]
                if status in ("InProgress", "Stopping"):
                    return None
                if status == "Completed":
                    return epoch_ms_values(job)
                raise FailureEventException(
                    FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                        event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(
                            taskFailedEventDetails=TaskFailedEventDetails(
                                resource=self._get_sfn_resource(),
                                resourceType=self._get_sfn_resource_type(),
                                error=StatesErrorNameType.StatesTaskFailed.to_name(),
                                cause=to_json_str(epoch_ms_values(job)),
                            )
                        ),
                    )
                )

            return resolve

    original = getattr(state_task_factory, "state_task_service_for")  # noqa: B009

    def state_task_service_for(service_name: str) -> Any:
        return StateTaskServiceSageMaker() if service_name == "sagemaker" else original(service_name)

    _replace(state_task_factory, "state_task_service_for", state_task_service_for)


# --- training jobs run on this machine --------------------------------------------------------


def metrics_from_log(definitions: list[dict[str, str]], log: str) -> list[dict[str, Any]]:
    """FinalMetricDataList as SageMaker builds it: each definition's regex, last match in the log."""
    import re

    found = []
    for definition in definitions:
        matches = re.findall(definition["Regex"], log)
        if matches:
            found.append({"MetricName": definition["Name"], "Value": float(matches[-1])})
    return found


def _channel_files(backend: Any, config: list[dict[str, Any]]) -> dict[str, dict[str, bytes]]:
    """Each S3 input channel's objects under its prefix (name relative to it), as File mode copies them."""
    from moto.s3.models import s3_backends

    s3 = s3_backends[backend.account_id][backend.partition]
    channels: dict[str, dict[str, bytes]] = {}
    for channel in config:
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        keys = [k for k in s3.get_bucket(bucket).keys if k.startswith(prefix)]
        if not keys:
            raise ValueError(f"ClientError: no S3 objects found under S3 URL {uri}")
        channels[channel["ChannelName"]] = {
            k[len(prefix) :].lstrip("/") or k.rsplit("/", 1)[-1]: s3.get_object(bucket, k).value  # type: ignore[union-attr]
            for k in keys
        }
    return channels


@patch(
    "fidelity",
    "a training job runs, writes model.tar.gz and reports its metrics",
    "tests/workflow/test_compat.py::test_a_training_job_sync_runs_the_job_and_answers_its_description_with_its_metrics",
)
def _patch_training_jobs() -> None:
    from moto.core.utils import utcnow
    from moto.s3.models import s3_backends
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_training_job

    def create_training_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto marks every job Completed at once, with canned metrics and no artifact. AWS
        # runs the algorithm, writes model.tar.gz and reports the metrics the job's
        # MetricDefinitions find in its log: so does this, with the local runner.
        requested = copy.deepcopy(kwargs["algorithm_specification"].get("MetricDefinitions", []))
        job: Any = original(self, *args, **kwargs)
        job.algorithm_specification["MetricDefinitions"] = requested

        def failed(reason: str) -> Any:
            job.training_job_status = job.secondary_status = "Failed"
            job.failure_reason = reason
            job.final_metric_data_list = []
            return job

        runner = WIRING.training_runner
        if runner is None:
            return failed("no local training runner: start the embedded AWS with nrt up")
        try:
            channels = _channel_files(self, kwargs.get("input_data_config") or [])
            archive, log = runner(job.training_job_name, dict(job.hyper_parameters or {}), channels)
        except Exception as error:
            return failed(f"AlgorithmError: {error}")
        bucket, _, key = job.model_artifacts["S3ModelArtifacts"].removeprefix("s3://").partition("/")
        s3_backends[self.account_id][self.partition].put_object(bucket, key, archive)
        now = utcnow()
        job.final_metric_data_list = [{**m, "Timestamp": now} for m in metrics_from_log(requested, log)]
        job.training_end_time = job.last_modified_time = now
        return job

    _replace(SageMakerModelBackend, "create_training_job", create_training_job)


# --- JSONPath: definite paths give a value ----------------------------------------------------

_INDEFINITE = re.compile(r"\[\s*(\*|\?|-?\d*\s*:)|\[[^\]]*,|\.\.|\.\*")


def is_indefinite(path: str) -> bool:
    """A path that can select several nodes (wildcard, filter, slice, union, deep scan)."""
    return bool(_INDEFINITE.search(path))


@patch(
    "fidelity",
    "a definite JSONPath selects a value, not a list",
    "tests/workflow/test_compat.py::test_definite_jsonpaths_select_a_value_and_indefinite_ones_a_list",
)
def _patch_definite_jsonpaths() -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json

    def extract_json(path: str, data: Any) -> Any:
        # Step Functions follows JSONPath: a definite path such as $.a[0].b selects one value;
        # moto answers a list whenever an array index appears anywhere in the path.
        matches = getattr(json_path, "parse")(path).find(data)  # noqa: B009 (the cached parse)
        if is_indefinite(path):
            return [match.value for match in matches]
        if not matches:
            raise json_path.NoSuchJsonPathError(json_path=path, data=data)
        return matches[0].value

    _rebind_in_interpreter("extract_json", original, extract_json)


# --- AddTags replaces a key's value ------------------------------------------------------------


@patch(
    "fidelity",
    "AddTags replaces an existing key's value",
    "tests/workflow/test_compat.py::test_add_tags_replaces_the_value_of_an_existing_key",
)
def _patch_add_tags() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    def add_tags(self: Any, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        resource = self._get_resource_from_arn(arn)
        keys = {t["Key"] for t in tags}
        resource.tags[:] = [t for t in resource.tags if t["Key"] not in keys] + list(tags)
        tags_now: list[dict[str, str]] = resource.tags
        return tags_now

    _replace(SageMakerModelBackend, "add_tags", add_tags)


@patch(
    "fidelity",
    "Describe* leave out optional structures never given",
    "tests/workflow/test_compat.py::test_describe_model_leaves_out_a_vpc_config_and_containers_that_were_never_given",
)
def _patch_model_description() -> None:
    from moto.core.responses import ActionResult
    from moto.sagemaker.responses import SageMakerResponse

    # moto's Describe{Model,EndpointConfig,Endpoint} answer the optional structures nobody set
    # as empty ones ("VpcConfig": {}, "DataCaptureConfig": {}, "Containers": []); AWS leaves
    # them out. The SageMaker Python SDK's typed resources refuse the empty structures (their
    # required members are missing) right after Model.create or EndpointConfig.create. Only
    # the answers change: moto's own code still reads its objects as before.
    for action in ("describe_model", "describe_endpoint_config", "describe_endpoint"):
        original = getattr(SageMakerResponse, action)

        def describe(self: Any, original: Any = original) -> Any:
            answer = original(self)
            described = answer.result
            if not isinstance(described, dict):
                return answer
            return ActionResult({k: v for k, v in described.items() if v != {} and v != []})

        _replace(SageMakerResponse, action, describe)


# --- atomic writes -----------------------------------------------------------------------------

_WRITES = threading.RLock()


@patch(
    "fidelity",
    "a conditional write is atomic",
    "tests/workflow/test_compat.py::test_concurrent_conditional_writes_of_one_key_let_exactly_one_through",
)
def _patch_atomic_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    # DynamoDB evaluates a write's condition and applies the write as one step. moto checks,
    # then writes, in Python: two executions writing the same key at once could both pass
    # attribute_not_exists. One lock over the table-writing calls restores the guarantee.
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _WRITES:
                return __original(self, *args, **kwargs)

        _replace(DynamoDBBackend, name, functools.wraps(original)(atomic))


# --- GetRecords on DynamoDB Streams ------------------------------------------------------------


def stream_records_json(page: dict[str, Any]) -> str:
    """A GetRecords page on the wire: moto's records are already in wire names and shapes;
    only ApproximateCreationDateTime (a naive UTC datetime) becomes epoch seconds, cut to
    the millisecond as the Smithy rules (and moto's serializer) cut it."""

    def epoch_seconds(value: Any) -> float:
        if isinstance(value, datetime.datetime):
            whole = calendar.timegm(value.utctimetuple())
            return whole + (value.microsecond // 1000) / 1000.0 if value.microsecond else whole
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    return json.dumps({k: v for k, v in page.items() if v is not None}, default=epoch_seconds, separators=(",", ":"))


@patch(
    "speed",
    "GetRecords pages are dumped as they are",
    "tests/workflow/test_compat.py::test_get_records_answers_what_moto_s_own_serializer_answers",
)
def _patch_stream_records() -> None:
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    # moto serializes every value through a model-driven serializer: 0.46 ms per record,
    # paid in the embedded AWS's process for each prediction the stream worker reads. The
    # records need no transformation but the timestamp, so they are dumped as they are.
    def get_records(self: Any) -> Any:
        limit = self._get_param("Limit")
        page = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
        return stream_records_json(page), {"Content-Type": "application/x-amz-json-1.0"}

    _replace(DynamoDBStreamsHandler, "get_records", get_records)


def current_fingerprints() -> dict[str, str]:
    """Apply every patch in a fresh interpreter and report what each one rewrote."""
    global _installed
    check_moto_version(version("moto"))
    applied: dict[str, str] = {}
    for entry in REGISTRY:
        _APPLYING[:] = [entry.name]
        entry.apply()
        applied.update(_TOUCHED.pop(entry.name, {}))
    _APPLYING.clear()
    _installed = True
    return applied


if __name__ == "__main__":
    if sys.argv[1:] == ["fingerprints"]:
        print(json.dumps(current_fingerprints(), indent=1, sort_keys=True))
    elif sys.argv[1:] == ["table"]:
        for entry in REGISTRY:
            print(f"| {entry.name} | {entry.kind} | {entry.aws} | {entry.upstream} |")
    else:
        sys.exit("usage: python -m nrt.compat fingerprints|table")
