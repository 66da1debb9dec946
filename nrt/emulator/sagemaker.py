"""SageMaker endpoints as the workflows need them: InvokeEndpoint reaches a model host,
UpdateEndpoint, tags and descriptions as AWS answers them (training: sagemaker_jobs.py)."""

from __future__ import annotations

import http.client
import json
import queue
import urllib.parse
from typing import Any

from nrt.emulator.registry import (
    _add,
    _replace,
    patch,
)
from nrt.emulator.wiring import wired

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
    "tests/workflow/test_emulator.py::test_invoke_endpoint_reaches_the_model_host",
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
        host = wired().model_hosts.url(name)
        if host is None or endpoint.endpoint_status != "InService":
            raise JsonRESTError("ModelNotReadyException", f"Model for endpoint {name} is not ready.")
        try:
            payload = self.body.encode("utf-8") if isinstance(self.body, str) else bytes(self.body)
            call = wired().model_call or invoke_model_host
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
    "tests/workflow/test_emulator.py::test_update_endpoint_switches_an_endpoint_to_a_new_config_in_place",
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


# --- AddTags replaces a key's value ------------------------------------------------------------


@patch(
    "fidelity",
    "AddTags replaces an existing key's value",
    "tests/workflow/test_emulator.py::test_add_tags_replaces_the_value_of_an_existing_key",
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
    "tests/workflow/test_emulator.py::test_describe_model_leaves_out_a_vpc_config_and_containers_that_were_never_given",
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
