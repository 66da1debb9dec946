"""Speed-ups of moto's interpreter: the same behaviour, less work (each has a test beside it in
tests/workflow/test_emulator.py). NRT_EMULATOR_SPEEDUPS=0 leaves them all out."""

from __future__ import annotations

import copy
import functools
import io
import logging
import os
import queue
import re
import sys
import threading
import types
import urllib.parse
from collections.abc import Callable
from typing import Any, ClassVar

from nrt.emulator.registry import (
    MOTO_VERSION,
    CompatError,
    follows,
    patch,
    rebind_in_interpreter,
    replace_attr,
)

_clients_lock = threading.Lock()


# --- one boto3 client per service ---------------------------------------------------------


def _header_environ(headers: Any) -> tuple[str | None, dict[str, str], dict[str, str]]:
    """A request's headers as the environ holds them: its content type, the HTTP_* keys
    (repeated names joined), and the names moto keeps as they were spelled."""
    from moto.core.request import environ_key_for_header, should_preserve_original_header_name

    content_type = None
    combined: dict[str, list[str]] = {}
    preserved: dict[str, str] = {}
    for header, value in headers.items():
        lowered = header.lower()
        text = value.decode() if isinstance(value, bytes) else str(value)
        if lowered == "content-type":
            content_type = text
        elif lowered not in ("transfer-encoding", "content-length"):
            combined.setdefault(f"HTTP_{header.upper().replace('-', '_')}", []).append(text)
            if should_preserve_original_header_name(header):
                preserved[environ_key_for_header(header)] = header
    return content_type, {key: ", ".join(values) for key, values in combined.items()}, preserved


def wsgi_request(method: str, url: str, headers: Any, body: bytes | str) -> Any:
    """The request moto's Request.from_primitives makes, from its WSGI environ directly: the
    same keys and values werkzeug's EnvironBuilder puts there, without the builder (its
    header and form machinery cost more than the DynamoDB call it carries)."""
    from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY, Request
    from werkzeug.urls import iri_to_uri

    data = body.encode() if isinstance(body, str) else body
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc
    name, colon, port = host.partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.upper(),
        "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote(iri_to_uri(parts.path)).encode().decode("latin1"),
        "QUERY_STRING": parts.query.encode().decode("latin1"),
        "REQUEST_URI": parts.path.encode().decode("latin1"),
        "RAW_URI": parts.path.encode().decode("latin1"),
        "SERVER_NAME": name,
        "SERVER_PORT": port if colon else ("443" if parts.scheme == "https" else "80"),
        "HTTP_HOST": host,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme,
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    content_type, combined, preserved = _header_environ(headers)
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if data:  # the builder's order: the length after the type; without a body, moto adds it last
        environ["CONTENT_LENGTH"] = str(len(data))
    environ.update(combined)
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = preserved
    environ.setdefault("CONTENT_LENGTH", "0")
    return Request(environ)


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

    #: Calls answered here without a request: (service, operation) to a function of the account,
    #: the region and the parameters that gives what moto's handler would: the answer as the
    #: client's parser gives it, or the handler's raw answer for that parser (a refusal, a
    #: streamed body), or None where it cannot (the call then takes moto's own way). Filled by
    #: the patches that add one.
    IN_PLACE: ClassVar[dict[tuple[str, str], InPlace]] = {}

    def __init__(self, client: Any) -> None:
        from botocore.awsrequest import AWSPreparedRequest

        self._client = client
        self._prepared = AWSPreparedRequest
        self._handlers: dict[str, Any] = {}
        self._region = region = client.meta.region_name
        self._service = service = client.meta.service_model.signing_name
        # moto reads the account from the credential scope; the signature it never checks.
        self._authorization = f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/{region}/{service}/aws4_request"

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
        in_place = self.IN_PLACE.get((self._service, operation_name))
        if in_place is not None:
            answer = in_place(_account(), self._region, params)
            if isinstance(answer, tuple):
                return self._parsed(operation_name, *answer)
            if answer is not None:
                answer["ResponseMetadata"] = {"HTTPStatusCode": 200}
                return answer
        return self._sent(operation_name, params)

    def _sent(self, operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
        from botocore.compat import HTTPHeaders
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
        url = f"{path}?{query}" if query else path
        body = request["body"]
        if isinstance(body, (bytes, str)):
            normalized = wsgi_request(request["method"], url, headers, body)
        else:  # a stream: moto's own way reads it
            prepared = self._prepared(
                method=request["method"], url=url, headers=headers, body=body, stream_output=False
            )
            normalized = normalize_request(prepared)
        try:
            status, out_headers, body = self._handler(path)(normalized, normalized.raw_url, normalized.headers)
        except HTTPException as exc:
            status, out_headers, body = exc.code, exc.get_headers(), exc.get_body()
        return self._parsed(operation_name, status, out_headers, body)

    def _parsed(self, operation_name: str, status: int, headers: Any, body: bytes | str) -> dict[str, Any]:
        """A handler's answer as boto3 gives it: parsed by the client's own parser, or raised as
        the ClientError class of its code."""
        from botocore.awsrequest import AWSResponse
        from botocore.endpoint import convert_to_response_dict
        from moto.core.botocore_stubber import MockRawResponse

        client = self._client
        operation = client.meta.service_model.operation_model(operation_name)
        raw = AWSResponse(client.meta.endpoint_url, status, headers, MockRawResponse(body))
        response = convert_to_response_dict(raw, operation)
        parsed: dict[str, Any] = client._response_parser.parse(response, operation.output_shape)
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = status
        if status >= 300:
            # The error's own fields (a ModelError's OriginalStatusCode), as botocore's endpoint adds them.
            client._endpoint._add_modeled_error_fields(response, parsed, operation, client._response_parser)
            code = parsed.get("Error", {}).get("Code")
            raise client.exceptions.from_code(code)(parsed, operation_name)
        return parsed


# A handler's raw answer: status, headers, body.
RawAnswer = tuple[int, dict[str, str], bytes | str]
InPlace = Callable[[str, str, dict[str, Any]], "dict[str, Any] | RawAnswer | None"]

ACCESS_KEY = "ak"


def _account() -> str:
    """The account moto's handler serves an InProcessClient's call from (get_current_account)."""
    from moto.iam.models import get_account_id_from

    return os.environ["MOTO_ACCOUNT_ID"] if "MOTO_ACCOUNT_ID" in os.environ else get_account_id_from(ACCESS_KEY)


def item_in_place(account: str, region: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """GetItem's answer read from the table, as moto's DynamoHandler.get_item gives it, or None
    where that handler does more than read an item by its key (a projection, consumed capacity,
    binary attributes) or refuses the request: moto's own way then answers or refuses it."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.utilities import dynamo_to_dict

    backend = dynamodb_backends[account][region]
    table = _read_by_key(backend, params)
    if table is None:
        return None
    try:
        item = backend.get_item(table.name, params["Key"])
    except Exception:  # moto's own way raises it as the ClientError it becomes
        return None
    if item is None:
        return {}
    answer: dict[str, Any] = dynamo_to_dict({"Item": item.attrs})  # the handler's DynamoResult: new containers
    return answer if _as_parsed(answer) else None


def _read_by_key(backend: Any, params: dict[str, Any]) -> Any | None:
    """The table a GetItem reads a whole item of by its whole key and nothing else, or None."""
    if not params.keys() <= {"TableName", "Key", "ConsistentRead"}:
        return None
    if not isinstance(params.get("ConsistentRead", False), bool):
        return None
    table, key = backend.tables.get(params.get("TableName", "")), params.get("Key")
    if table is None or not isinstance(key, dict):
        return None
    names = {table.hash_key_attr} | ({table.range_key_attr} if table.range_key_attr else set())
    return table if set(key) == names and all(_key_value(value) for value in key.values()) else None


def _key_value(value: Any) -> bool:
    """A key attribute's value the handler takes as it is: one non-empty string or number."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    [(kind, text)] = value.items()
    return kind in ("S", "N") and isinstance(text, str) and text != ""


def _as_parsed(value: Any) -> bool:
    """Whether an answer is already what moto's serializer and botocore's parser would make of it:
    no binary value (bytes, which that way hands on base64-decoded), and every string and number
    a string (moto keeps a legacy AttributeUpdates' BOOL as {"S": True}, which that way writes "True")."""
    if isinstance(value, dict):
        return all(isinstance(v, str) if k in ("S", "N") else _as_parsed(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_as_parsed(v) for v in value)
    return not isinstance(value, bytes)


@patch(
    "speed",
    "a workflow's GetItem of a whole item by its key is read in place",
    "tests/workflow/test_emulator_speed.py::test_a_getitem_read_in_place_answers_as_moto_s_own_way_for_every_kind_of_request",
)
def _patch_items_in_place() -> None:
    from moto.dynamodb.models import DynamoDBBackend, utilities
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    # A workflow's GetItem (the cache setting, on every reading) took moto's whole way: a request
    # serialized, parsed back, its handler set up, its answer serialized and parsed again, about
    # 0.5 ms of CPU for a read by key. The answer is the handler's, read from the same backend.
    followed = (
        (DynamoHandler, "get_item"),
        (DynamoDBBackend, "get_item"),
        (Table, "get_item"),
        (utilities, "dynamo_to_dict"),
    )
    for owner, name in followed:
        follows(owner, name)
    InProcessClient.IN_PLACE[("dynamodb", "GetItem")] = item_in_place


def refusal(refused: Any) -> RawAnswer:
    """The raw answer moto's handler gives for a refusal it raises (a JsonRESTError), as
    BaseResponse.call_action makes it: the error's status, headers and body, with a request id."""
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    headers = dict(refused.get_headers())
    gen_amzn_requestid_long(headers)
    return refused.code, headers, refused.description


# What a PutItem written in place may name: with no values or capacity asked back, its answer is {}.
_WRITTEN_IN_PLACE = frozenset(
    {"TableName", "Item", "ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"}
)


def item_written_in_place(account: str, region: str, params: dict[str, Any]) -> dict[str, Any] | RawAnswer | None:
    """PutItem written by moto's own DynamoHandler.put_item, given the parameters instead of a
    request: its answer ({}), or its refusal as that handler answers it. None where the answer
    could hold more (returned values, consumed capacity), for the legacy Expected, and where a
    request would carry the values differently (binary values, a string or number that is not
    a string): moto's own way then writes it."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.responses import DynamoHandler

    if not (params.keys() <= _WRITTEN_IN_PLACE and isinstance(params.get("TableName"), str)):
        return None
    if not (isinstance(params.get("Item"), dict) and _as_parsed(params)):
        return None
    handler = DynamoHandler()
    handler.current_account, handler.region = account, region
    handler.body = json_deepcopy(params)  # as parsed from a request: the table's item is its own
    try:
        handler.put_item()
    except JsonRESTError as refused:  # its validation, its condition, the runtime's write check
        return refusal(refused)
    return {}


@patch(
    "speed",
    "a workflow's PutItem is written in place",
    "tests/workflow/test_emulator_speed.py::test_a_putitem_written_in_place_answers_as_moto_s_own_way_for_every_kind_of_request",
)
def _patch_items_written_in_place() -> None:
    from moto.core.responses import BaseResponse
    from moto.dynamodb import responses
    from moto.utilities import aws_headers

    # Every reading writes its prediction with a PutItem, which took moto's whole way: the
    # request serialized, its handler set up from it (about half the call), the answer
    # serialized and parsed again. The handler's own put_item writes it here, from the
    # parameters; the table, its stream and the kept store see the same write.
    followed = (
        (responses.DynamoHandler, "put_item"),
        (responses, "include_consumed_capacity"),
        (BaseResponse, "call_action"),  # how a refusal becomes an answer
        (aws_headers, "gen_amzn_requestid_long"),
    )
    for owner, name in followed:
        follows(owner, name)
    InProcessClient.IN_PLACE[("dynamodb", "PutItem")] = item_written_in_place


# An endpoint's name as SageMaker allows it (and as a request's path carries it unchanged).
_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def model_called_in_place(account: str, region: str, params: dict[str, Any]) -> RawAnswer | None:
    """InvokeEndpoint answered by what the runtime's handler answers it with (sagemaker.invoke),
    given the parameters instead of a request: the model host's answer or the refusal, raw, for
    the client's parser (which hands the body on as a stream, as boto3 does). None where the
    call names more than an endpoint, a body, its type and Accept (a target model or variant,
    custom attributes): moto's own way then answers it."""
    from moto.core.exceptions import JsonRESTError
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    from nrt.emulator.sagemaker import invoke

    if not params.keys() <= {"EndpointName", "Body", "ContentType", "Accept"}:
        return None
    name, body, content_type = params.get("EndpointName"), params.get("Body"), params.get("ContentType")
    if not (isinstance(name, str) and _ENDPOINT_NAME.fullmatch(name) and isinstance(content_type, str)):
        return None
    if not isinstance(body, (str, bytes)):
        return None
    payload = body.encode() if isinstance(body, str) else body
    try:
        status, headers, answer = invoke(account, region, name, payload, content_type)
    except JsonRESTError as refused:  # an unknown or unready endpoint, the model's own error
        return refusal(refused)
    gen_amzn_requestid_long(headers)
    return status, headers, answer


@patch(
    "speed",
    "a workflow's InvokeEndpoint calls the model in place",
    "tests/workflow/test_emulator_speed.py::test_an_invokeendpoint_called_in_place_answers_as_moto_s_own_way",
)
def _patch_models_called_in_place() -> None:
    from moto.core.responses import BaseResponse
    from moto.utilities import aws_headers

    # Every reading's model call took moto's whole way around the model host's answer: the
    # request serialized, the runtime's handler set up from it, its answer taken apart. The
    # handler's own work (sagemaker.invoke: the endpoint's state, the host, the refusals) is
    # done here, from the parameters; the client's parser reads its answer as before.
    follows(BaseResponse, "call_action")  # how an answer or a refusal leaves the handler
    follows(aws_headers, "gen_amzn_requestid_long")
    InProcessClient.IN_PLACE[("sagemaker", "InvokeEndpoint")] = model_called_in_place


@patch(
    "speed",
    "each handler class's actions are listed once",
    "tests/workflow/test_emulator_speed.py::test_each_handler_class_s_actions_are_listed_once_and_include_what_compat_adds",
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

    replace_attr(responses, "method_names_from_class", method_names_from_class)


@patch(
    "speed",
    "one boto3 client per service, calls reach moto in process",
    "tests/workflow/test_emulator_speed.py::test_every_task_service_reuses_one_client_per_service",
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
            with _clients_lock:
                client = clients.get(key) or original(region, service, state_credentials)
                # Not S3: its endpoint rules move the bucket from the path into the host name,
                # which a request built from the path alone loses (a bucket named by the key's
                # first folder); its calls take botocore's whole send path.
                if botocore_stubber.enabled and service != "s3" and not isinstance(client, InProcessClient):
                    client = InProcessClient(client)
                clients[key] = client
        return client

    rebind_in_interpreter("boto_client_for", original, boto_client_for)


# --- parse each definition once -----------------------------------------------------------


@patch(
    "speed",
    "each definition is parsed once",
    "tests/workflow/test_emulator_speed.py::test_one_parsed_definition_serves_concurrent_executions_without_mixing_them",
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

    replace_attr(ExecutionWorker, "_get_evaluation_entrypoint", _get_evaluation_entrypoint)


# --- compile each JSONPath once -----------------------------------------------------------


@patch(
    "speed", "each JSONPath is compiled once", "tests/workflow/test_emulator_speed.py::test_jsonpaths_are_compiled_once"
)
def _patch_jsonpath_cache() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # Compiled paths are immutable; the set of distinct paths is bounded by the definitions.
    # Both modules import their own jsonpath_ng parse function: cache each.
    for module in (json_path, result_path):
        replace_attr(module, "parse", functools.lru_cache(maxsize=4096)(getattr(module, "parse")))  # noqa: B009


# --- plain JSONPaths are walked directly ---------------------------------------------------

# A plain path: $ then names and array indices only ($.a.b[0].c), which most of a workflow's
# paths are. Anything else (quoted names, negative indices, filters) goes to jsonpath_ng.
_PLAIN_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_PLAIN_PATH = re.compile(r"\$(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*")
_MISSING = object()


@functools.lru_cache(maxsize=4096)
def plain_steps(path: str) -> tuple[str | int, ...] | None:
    """The names and indices of a plain path, in order; None for any other path."""
    if not _PLAIN_PATH.fullmatch(path):
        return None
    return tuple(name if name else int(index) for name, index in _PLAIN_STEP.findall(path))


def follow(steps: tuple[str | int, ...], data: Any) -> Any:
    """The value a plain path selects in data, as jsonpath_ng finds it; _MISSING if none."""
    for step in steps:
        if isinstance(step, str):
            if not isinstance(data, dict) or step not in data:
                return _MISSING
            data = data[step]
        elif isinstance(data, list) and step < len(data):
            data = data[step]
        else:
            return _MISSING
    return data


@patch(
    "speed",
    "a plain JSONPath is walked directly",
    "tests/workflow/test_emulator_speed.py::test_a_plain_path_is_walked_to_the_value_jsonpath_ng_finds_and_missing_where_it_finds_none",
)
def _patch_plain_paths() -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    # After the fidelity patch definite-jsonpaths: every path the interpreter reads goes through
    # jsonpath_ng's datums (a wrapper object per node on the way); a plain one, most of a
    # workflow's, is walked here to the same value, and anything else is left to it.
    definite = json_path.extract_json

    def extract_json(path: str, data: Any) -> Any:
        steps = plain_steps(path)
        if steps is None:
            return definite(path, data)
        found = follow(steps, data)
        if found is _MISSING:
            raise json_path.NoSuchJsonPathError(json_path=path, data=data)
        return found

    rebind_in_interpreter("extract_json", definite, extract_json)


def set_plain(names: tuple[str, ...], data: dict[str, Any], value: Any) -> bool:
    """Set value at the plain path of names in data as jsonpath_ng's update_or_create does (an
    object made for each missing name on the way); False where the way holds something other
    than an object (data may then hold objects made on the way)."""
    node = data
    for name in names[:-1]:
        child = node.get(name, _MISSING)
        if child is _MISSING:
            child = node[name] = {}
        elif type(child) is not dict:
            return False
        node = child
    node[names[-1]] = value
    return True


@patch(
    "speed",
    "a plain ResultPath is set directly",
    "tests/workflow/test_emulator_speed.py::test_a_plain_result_path_sets_what_jsonpath_ng_sets",
)
def _patch_plain_result_path() -> None:
    from moto.stepfunctions.parser.asl.component.common.path.result_path import ResultPath

    original = ResultPath._eval_body

    # jsonpath_ng's update_or_create walks the path through its datums, then walks the whole
    # state once more to clean list keys it never made. A ResultPath of names ($.a.b) into
    # objects is set here; "$", indices or anything else take moto's way.
    def _eval_body(self: Any, env: Any) -> None:
        source = self.result_path_src
        steps = plain_steps(source) if source is not None else None
        if not steps or not all(isinstance(step, str) for step in steps):
            original(self, env)
            return
        state_input = env.states.get_input()  # a copy of its own
        output = env.stack[-1]
        names = tuple(str(step) for step in steps)
        if type(state_input) is not dict or not set_plain(names, state_input, json_deepcopy(output)):
            original(self, env)
            return
        env.stack.pop()
        env.stack.append(state_input)

    replace_attr(ResultPath, "_eval_body", _eval_body)


def forget_finished_threads() -> None:
    from moto.stepfunctions.parser.utils import TMP_THREADS

    TMP_THREADS[:] = [t for t in TMP_THREADS if t.is_alive()]


# --- deep copies of state data ------------------------------------------------------------

_IMMUTABLE = frozenset((str, int, float, bool, type(None)))
_PLAIN_OBJECTS: set[type] = set()


def json_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy for JSON-shaped data, ~3x faster; anything else goes to copy.deepcopy.
    A dict's or list's scalar members (most of state data) are taken as they are, without a
    call each."""
    if memo is not None:
        return copy.deepcopy(value, memo)
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE else json_deepcopy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else json_deepcopy(v) for v in value]
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
    "tests/workflow/test_emulator_speed.py::test_the_interpreter_uses_the_json_deepcopy",
)
def _patch_json_deepcopy() -> None:
    from moto.stepfunctions.parser.asl.eval import program_state as ps

    # The program's state is copied on every step; these classes hold only their __dict__
    # (names, dates, an error dict), so copying that is what copy.deepcopy does, 4x faster.
    _PLAIN_OBJECTS.update((ps.ProgramEnded, ps.ProgramStopped, ps.ProgramRunning, ps.ProgramError, ps.ProgramTimedOut))
    # The interpreter deep-copies the state input on every read (about 90 times for one
    # reading, and once per Map iteration for the whole batch): half its CPU time.
    rebind_in_interpreter("copy", copy, types.SimpleNamespace(deepcopy=json_deepcopy, copy=copy.copy))


# --- each component's evaluation step, without its per-step calls -----------------------------


@patch(
    "speed",
    "each evaluation step reads the program state once",
    "tests/workflow/test_emulator_speed.py::test_an_evaluation_step_names_its_field_and_skips_work_once_the_program_has_ended",
)
def _patch_eval_step() -> None:
    from moto.stepfunctions.parser.asl.component import eval_component
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramRunning

    stepped = EvalComponent.eval
    log = eval_component.LOG

    # Every component of a definition (a state, each of its paths, parameters, intrinsic
    # arguments: about 800 for one reading) is evaluated through EvalComponent.eval, which
    # asks the environment whether the program runs, logs the step at DEBUG level, and sets
    # the field being evaluated through two properties that each ask again. The same steps,
    # reading the program state once; an environment of another kind takes moto's way.
    def eval_step(self: Any, env: Any) -> None:
        if type(env) is not Environment:
            stepped(self, env)
            return
        state = env._program_state
        if not isinstance(state, ProgramRunning):
            if log.isEnabledFor(logging.DEBUG):
                self._log_evaluation_step("Pruning")
            return
        if log.isEnabledFor(logging.DEBUG):
            self._log_evaluation_step("Computing")
        try:
            field_name = self._field_name()
            if field_name is not None:
                state.next_field_name = field_name
            self._eval_body(env)
        except FailureEventException as failure_event_exception:
            self._log_failure_event_exception(failure_event_exception=failure_event_exception)
            raise failure_event_exception
        except Exception as exception:
            self._log_exception(exception=exception)
            raise exception

    replace_attr(EvalComponent, "eval", eval_step)


# --- states without a timeout run inline ---------------------------------------------------


@patch(
    "speed",
    "states without TimeoutSeconds run in the caller thread, the others on a kept worker",
    "tests/workflow/test_emulator_speed.py::test_a_task_runs_in_its_own_thread_only_when_it_declares_a_timeout",
)
def _patch_inline_states() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

    def _evaluate_with_timeout(self: Any, env: Any) -> None:
        # moto runs every Task, Map and Parallel in a fresh thread only to be able to stop
        # waiting after TimeoutSeconds. A state that declares no timeout cannot time out, so
        # the thread buys nothing; here it runs in the caller's thread, in the same kind of
        # frame, and its result takes the same way back. One that does runs on a worker kept
        # from state to state (TimedStateWorkers), not on a new thread.
        if not self.timeout.is_default_value():
            _evaluate_on_worker(self, env)
            return
        frame = _state_frame(env)
        try:
            self._eval_execution(frame)
        finally:
            frame.set_ended()
            env.close_frame(frame)
        _hand_on(self, env, frame.stack[-1])

    replace_attr(ExecutionState, "_evaluate_with_timeout", _evaluate_with_timeout)


def _state_frame(env: Any) -> Any:
    """The frame a state is evaluated in, as moto opens it: the state input, a copy of the stack."""
    frame = env.open_frame()
    frame.states.reset(input_value=env.states.get_input())
    frame.stack = json_deepcopy(env.stack)
    return frame


def _hand_on(state: Any, env: Any, output: Any) -> None:
    """A state's result, evaluated in its frame, taken back as moto takes it: the result, its
    assignments, then ResultSelector and ResultPath (or the result as the next input)."""
    env.stack.append(output)
    if not state._is_language_query_jsonpath():
        env.states.set_result(output)
    if state.assign_decl:
        state.assign_decl.eval(env=env)
    if state.result_selector:
        state.result_selector.eval(env=env)
    if state.result_path:
        state.result_path.eval(env)
    else:
        env.states.reset(input_value=env.stack.pop())


class TimedStateWorkers:
    """Daemon threads for the states that declare a timeout, each kept for the next such state
    once its state is done. moto starts a thread for each (the model call, with the state's
    TimeoutSecondsPath: one a reading) only to stop waiting after the timeout. A state that
    times out keeps its worker busy until its call returns, as moto's thread was: every job
    handed in has a worker of its own, idle or new, so none waits behind another."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self.started = 0  # workers started so far

    def run(self, job: Callable[[], None]) -> None:
        with self._lock:
            new = self._idle == 0
            self._idle -= 0 if new else 1
            self.started += new
        self._jobs.put(job)
        if new:
            threading.Thread(target=self._work, name="timed-state", daemon=True).start()

    def _work(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1


TIMED_STATE_WORKERS = TimedStateWorkers()


def _evaluate_on_worker(state: Any, env: Any) -> None:
    """moto's ExecutionState._evaluate_with_timeout, the state evaluated on a kept worker
    instead of a new thread: the same frame, the same wait, the same errors and result."""
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError

    state.timeout.eval(env=env)
    timeout_seconds: int = env.stack.pop()
    frame = _state_frame(env)
    outputs: list[Any] = []
    errors: list[Exception | None] = [None]
    done = threading.Event()

    def execute_and_notify() -> None:
        try:
            state._eval_execution(frame)
            outputs.extend(frame.stack)
        except Exception as error:
            errors.append(error)
        done.set()

    TIMED_STATE_WORKERS.run(execute_and_notify)
    finished_on_time = done.wait(timeout_seconds)
    frame.set_ended()
    env.close_frame(frame)
    error = errors.pop()
    if error:
        raise error
    if not finished_on_time:
        raise EvalTimeoutError()
    _hand_on(state, env, outputs.pop())


# --- programs without a timeout run inline --------------------------------------------------


@patch(
    "speed",
    "programs without TimeoutSeconds run in the caller thread",
    "tests/workflow/test_emulator_speed.py::test_an_execution_with_a_timeout_still_times_out",
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

    replace_attr(Program, "eval", eval_program)


@patch(
    "speed",
    "Map iterations read the Map input in place",
    "tests/workflow/test_emulator_speed.py::test_map_iterations_read_the_map_input_without_changing_it_for_each_other",
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

    replace_attr(worker.InlineItemProcessorWorker, "_eval_input", _eval_input)


@patch(
    "speed",
    "a Map starts at most one worker per item",
    "tests/workflow/test_emulator_speed.py::test_a_map_starts_at_most_one_worker_per_item_and_no_thread_per_iteration",
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

    replace_attr(InlineIterationComponent, "_launch_worker", _launch_worker)


# --- a Choice's missing variable, without its message ------------------------------------------


@patch(
    "speed",
    "a Choice rule's missing variable is noted without writing out the state",
    "tests/workflow/test_emulator_speed.py::test_a_missing_variable_is_still_missing_and_its_message_written_only_when_read",
)
def _patch_missing_variable() -> None:
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable, Variable

    class MissingVariable(NoSuchVariable):
        # moto writes the whole state into the text of every missing variable (IsPresent on an
        # absent field: Validate's rules and most Choice states), and nothing reads that text.
        # The same kind of value; its text written when asked for.
        def __init__(self, literal: str, error: Exception) -> None:
            self._literal = literal
            self._error = error

        @property  # type: ignore[misc]  # moto declares path Final, set once in its __init__
        def path(self) -> str:
            return f"{self._literal}, {self._error}"

    def _eval_body(self: Any, env: Any) -> None:
        try:
            self.string_sampler.eval(env=env)
            value = env.stack.pop()
        except Exception as ex:
            value = MissingVariable(self.string_sampler.literal_value, ex)
        env.stack.append(value)

    replace_attr(Variable, "_eval_body", _eval_body)


# --- moto's random identifiers, drawn at once ------------------------------------------------


@patch(
    "speed",
    "moto's random identifiers are drawn in one call",
    "tests/workflow/test_emulator_speed.py::test_random_identifiers_keep_moto_s_alphabet_and_length_and_follow_its_seed",
)
def _patch_random_identifiers() -> None:
    import string

    from moto.moto_api._internal.moto_random import HEX_CHARS, MotoRandom

    # Every response carries a 52-letter request id, drawn by moto one choice() at a time:
    # about 0.06 ms a call. The same letters from the same seeded generator, in one draw.
    def get_random_hex(self: Any, length: int = 8) -> str:
        return "".join(map(str, self.choices(HEX_CHARS, k=length)))

    def get_random_string(self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
        pool = string.ascii_letters + string.digits if include_digits else string.ascii_letters
        text = "".join(self.choices(pool, k=length))
        return text.lower() if lower_case else text

    replace_attr(MotoRandom, "get_random_hex", get_random_hex)
    replace_attr(MotoRandom, "get_random_string", get_random_string)
