"""SageMaker endpoints as the workflows need them: InvokeEndpoint reaches a model host,
UpdateEndpoint, tags and descriptions as AWS answers them (training: sagemaker_jobs.py)."""

from __future__ import annotations

import http.client
import json
import queue
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any

from nrt.emulator.registry import (
    add_attr,
    patch,
    replace_attr,
)
from nrt.emulator.wiring import wired

if TYPE_CHECKING:
    from nrt.emulator.speed import RawAnswer

# --- InvokeEndpoint reaches the model host ------------------------------------------------


# Idle kept-alive connections per model host, shared by all threads: moto runs every task
# state in a thread of its own, so a per-thread pool would never be reused.
_idle: dict[str, queue.SimpleQueue[http.client.HTTPConnection]] = {}


def _connect(base_url: str, timeout: float) -> http.client.HTTPConnection:
    parsed = urllib.parse.urlsplit(base_url)
    return http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=timeout)


def invoke_model_host(base_url: str, body: bytes, content_type: str, timeout: float = 60.0) -> tuple[int, bytes]:
    """POST /invocations on a model host over a kept-alive connection; (status, body)."""
    idle = _idle.setdefault(base_url, queue.SimpleQueue())
    for attempt in (1, 2):
        try:
            # The retry is on a new connection: every kept-alive one may have outlived the host's
            # keep-alive (all of a busy minute's, after a quiet one).
            conn = idle.get_nowait() if attempt == 1 else _connect(base_url, timeout)
        except queue.Empty:
            conn = _connect(base_url, timeout)
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
    "tests/workflow/test_emulator.py::test_invoke_endpoint_reaches_the_model_host",
    upstream="docs/upstream/invoke-endpoint.md (not filed)",
)
def _patch_invoke_endpoint() -> None:
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    def invoke_endpoint(self: Any) -> Any:
        name = self._get_params().get("EndpointName") or self.path.split("/")[2]
        payload = self.body.encode("utf-8") if isinstance(self.body, str) else bytes(self.body)
        content_type = self.headers.get("Content-Type", "application/json")
        return invoke(self.current_account, self.region, name, payload, content_type)

    replace_attr(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)


def invoke(account: str, region: str, name: str, payload: bytes, content_type: str) -> RawAnswer:
    """An endpoint's model host called with a payload: the answer InvokeEndpoint gives (status,
    headers, body), or the JsonRESTError it is refused with (ValidationError for an unknown
    endpoint, ModelNotReadyException, ServiceUnavailable, ModelError 424 for the model's own)."""
    from moto.core.exceptions import JsonRESTError
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[account][region]
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise JsonRESTError("ValidationError", f"Endpoint {name} of account {account} not found.")
    # Creating or Failed: not ready. Updating serves the old model, as AWS does.
    if endpoint.endpoint_status not in ("InService", "Updating"):
        raise JsonRESTError("ModelNotReadyException", f"Model for endpoint {name} is not ready.")
    with wired().model_hosts.use(name):
        host = wired().model_hosts.url(name) or _cold_start(backend, name, endpoint)
        try:
            call = wired().model_call or invoke_model_host
            status, body = call(host, payload, content_type)
        except OSError as exc:
            raise JsonRESTError("ServiceUnavailable", f"model host for {name} is unreachable: {exc}") from None
    if status != 200:
        raise model_error(status, body.decode("utf-8", "replace"), name)
    return 200, {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": "AllTraffic"}, body


def model_error(original_status: int, message: str, endpoint: str) -> Any:
    """The ModelError (424) InvokeEndpoint is refused with when the model answers other than 200."""
    from moto.core.exceptions import JsonRESTError

    text = f'Received {"client" if original_status < 500 else "server"} error ({original_status}) from primary with message "{message}".'  # noqa: E501
    error = JsonRESTError("ModelError", text)
    error.code = 424
    error.description = json.dumps(
        {
            "__type": "ModelError",
            "message": text,
            "OriginalStatusCode": original_status,
            "OriginalMessage": message,
            "LogStreamArn": f"arn:aws:logs:::log-group:/aws/sagemaker/Endpoints/{endpoint}",
        }
    )
    return error


def _cold_start(backend: Any, name: str, endpoint: Any) -> str:
    """A serverless endpoint scaled to zero stays InService; the invocation waits for the cold
    start, as long as the runtime's start allows."""
    from moto.core.exceptions import JsonRESTError

    start = wired().host_start
    if start is None:
        raise JsonRESTError("ModelNotReadyException", f"Model for endpoint {name} is not ready.")
    try:
        return start(name, *served_model(backend, endpoint.endpoint_config_name))
    except Exception as exc:  # the model cannot load: what the runtime says why
        raise JsonRESTError("ModelNotReadyException", f"Model for endpoint {name} is not ready: {exc}") from None


def served_model(backend: Any, config_name: str) -> tuple[str, str]:
    """(model name, ModelDataUrl) of an endpoint config's first variant."""
    variant = backend.endpoint_configs[config_name].production_variants[0]
    model = backend._models[variant["ModelName"]]
    return str(model.model_name), str(model.primary_container.get("ModelDataUrl", ""))


def _settle(endpoint: Any, model: str, url: str, done: Any) -> None:
    """In a thread: start the endpoint's model in a host (wired().host_start), then done(None)
    or done(why it cannot load); the endpoints are saved after (wired().endpoints_changed)."""
    start = wired().host_start
    assert start is not None
    try:
        start(endpoint.endpoint_name, model, url)
        done(None)
    except Exception as exc:  # the model cannot load: its reason is the endpoint's FailureReason
        done(str(exc) or type(exc).__name__)
    hook = wired().endpoints_changed
    if hook is not None:
        hook()


def restore_failed(account: str, region: str, name: str, reason: str) -> None:
    """An endpoint made again from what was kept, whose model could not load: Failed, as it was."""
    from moto.sagemaker.models import sagemaker_backends

    endpoint: Any = sagemaker_backends[account][region].endpoints[name]
    endpoint.endpoint_status, endpoint.failure_reason = "Failed", reason


# --- CreateEndpoint: Creating until the model answers ---------------------------------------


@patch(
    "fidelity",
    "CreateEndpoint: Creating until the model host answers /ping, else Failed with FailureReason",
    "tests/workflow/test_emulator.py::test_create_endpoint_is_creating_until_its_model_loads_and_failed_if_it_cannot",
    upstream="docs/upstream/create-endpoint.md (not filed)",
)
def _patch_create_endpoint() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_endpoint

    def create_endpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto makes an endpoint InService at once. AWS: Creating until the container has
        # loaded the model and answered its health check, else Failed with a FailureReason.
        endpoint: Any = original(self, *args, **kwargs)
        if wired().host_start is None:
            return endpoint  # no runtime to load models: InService at once, as moto has it
        endpoint.endpoint_status = "Creating"

        def done(failure: str | None) -> None:
            endpoint.failure_reason = failure
            endpoint.endpoint_status = "InService" if failure is None else "Failed"

        model, url = served_model(self, endpoint.endpoint_config_name)
        threading.Thread(target=_settle, args=(endpoint, model, url, done), daemon=True).start()
        return endpoint

    replace_attr(SageMakerModelBackend, "create_endpoint", create_endpoint)


# --- UpdateEndpoint -----------------------------------------------------------------------


@patch(
    "fidelity",
    "UpdateEndpoint: Updating until the new model answers, a failed one rolled back",
    "tests/workflow/test_emulator.py::test_update_endpoint_switches_an_endpoint_to_a_new_config_in_place",
    upstream="docs/upstream/update-endpoint.md (not filed)",
)
def _patch_update_endpoint() -> None:
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def update_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str) -> Any:
        # moto has no UpdateEndpoint. AWS keeps the endpoint's name and ARN and switches it
        # to the new config's variants; Updating until the new model answers its health check.
        # An update whose model cannot load is rolled back: InService on the old config, with
        # the FailureReason (nrt up's runtime loads the model; without one, at once).
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        config = self.describe_endpoint_config(endpoint_config_name)  # ValidationError if missing

        def switch(failure: str | None) -> None:
            # The status last: whoever sees InService sees the config it serves.
            endpoint.failure_reason = failure
            if failure is None:  # else AWS rolls the update back: the old config serves on
                endpoint.endpoint_config_name = endpoint_config_name
                endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
                endpoint.data_capture_config = config["DataCaptureConfig"]
                endpoint.last_modified_time = utcnow()
            endpoint.endpoint_status = "InService"

        if wired().host_start is None:
            switch(None)  # no runtime to load models: at once
            return endpoint
        endpoint.endpoint_status = "Updating"
        endpoint.failure_reason = None  # a former update's
        model, url = served_model(self, endpoint_config_name)
        threading.Thread(target=_settle, args=(endpoint, model, url, switch), daemon=True).start()
        return endpoint

    def update_endpoint_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        endpoint = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
        )
        return ActionResult({"EndpointArn": endpoint.arn})

    add_attr(SageMakerModelBackend, "update_endpoint", update_endpoint)
    add_attr(SageMakerResponse, "update_endpoint", update_endpoint_response)


# --- AddTags replaces a key's value ------------------------------------------------------------


@patch(
    "fidelity",
    "AddTags replaces an existing key's value",
    "tests/workflow/test_emulator.py::test_add_tags_replaces_the_value_of_an_existing_key",
    upstream="docs/upstream/add-tags.md (not filed)",
)
def _patch_add_tags() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    def add_tags(self: Any, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        resource = self._get_resource_from_arn(arn)
        keys = {t["Key"] for t in tags}
        resource.tags[:] = [t for t in resource.tags if t["Key"] not in keys] + list(tags)
        tags_now: list[dict[str, str]] = resource.tags
        return tags_now

    replace_attr(SageMakerModelBackend, "add_tags", add_tags)


@patch(
    "fidelity",
    "Describe* leave out optional structures never given",
    "tests/workflow/test_emulator.py::test_describe_model_leaves_out_a_vpc_config_and_containers_that_were_never_given",
    upstream="docs/upstream/model-description.md (not filed)",
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

        replace_attr(SageMakerResponse, action, describe)
