"""The template's REST API, executed on this machine as API Gateway executes it.

- `server`: the HTTP server on 127.0.0.1 (plus the local-only GET /status and dashboard page)
  and the services its integrations reach.
- `rest_api`: routes, per-operation security, the request validator, the mapping templates and
  the gateway responses, all read from template.yaml; nothing here knows our routes.
- `vtl`: the mapping templates' `$input` and `$util`, and rendering them.
- `models`: the draft-4 request models API Gateway keeps of the OpenAPI schemas on import.
- `validation`: strict JSON and API Gateway's validation messages.
- `executions`: what the routes start on the embedded AWS: synchronous executions for
  /predictions, journaled asynchronous ones for /events.
- `contract`: the workflow outcome -> HTTP answer mapping the deployed API's templates apply.

A request goes down: server -> rest_api -> executions -> the embedded AWS (nrt.emulator).
"""

__all__ = ["contract", "executions", "models", "rest_api", "server", "validation", "vtl"]
