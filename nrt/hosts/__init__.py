"""Model hosts: a SageMaker serverless endpoint's container, run on this machine.

- `host`: one model host process: the SageMaker scikit-learn container's HTTP contract
  (GET /ping, POST /invocations) around a model directory's serving code.
- `supervisor`: which endpoint has a host; starts one on demand (bounded wait), stops it when
  idle, and reports a model that cannot load to the endpoint (Failed, with its reason).
- `endpoints`: what `nrt up` plugs into the embedded AWS so its endpoints get hosts.
- `artifacts`: the model directory behind an endpoint's ModelDataUrl.
"""

__all__ = ["artifacts", "endpoints", "host", "supervisor"]
