"""The template's REST API, executed on this machine as API Gateway executes it.

- `server`: the HTTP server on 127.0.0.1 (plus the local-only GET /status and dashboard page)
  and the services its integrations reach.
- `rest_api`: routes, per-operation security, the request validator, the mapping templates and
  the gateway responses, all read from template.yaml; nothing here knows our routes.
- `vtl`: the mapping templates' `$input` and `$util`, and rendering them.
- `validation`: strict JSON and API Gateway's validation messages.
- `executions`: what the routes start on the embedded AWS: synchronous executions for
  /predictions, journaled asynchronous ones for /events.
- `contract`: the workflow outcome -> HTTP answer mapping the deployed API's templates apply.

A request goes down: server -> rest_api -> executions -> the embedded AWS (nrt.emulator).
"""

__all__ = ["contract", "executions", "rest_api", "server", "validation", "vtl"]
