"""The template's REST API, executed on this machine as API Gateway executes it.

- `rest_api`: routes, the request validator (the OpenAPI body's JSON Schemas), the VTL mapping
  templates and the gateway responses, read from template.yaml; nothing here knows our routes.
- `server`: the HTTP server on 127.0.0.1 and the integrations behind it: the executions the
  routes start (synchronous for /predictions, journaled for /events) and GET /models.
- `contract`: the workflow outcome -> HTTP status mapping the deployed API's templates apply.

A request goes down: server -> rest_api -> the embedded AWS (nrt.emulator).
"""

__all__ = ["contract", "rest_api", "server"]
