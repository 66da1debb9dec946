"""functions/list_models: which endpoints are models."""

from __future__ import annotations

from functions.list_models.app import models_from_endpoints


def test_only_prefixed_endpoints_are_models_and_the_prefix_is_stripped():
    endpoints = [
        {"EndpointName": "nrt-failure", "EndpointStatus": "InService"},
        {"EndpointName": "nrt-fraud", "EndpointStatus": "Creating"},
        {"EndpointName": "other-nrt-x", "EndpointStatus": "InService"},
        {"EndpointName": "nrt-", "EndpointStatus": "InService"},
    ]

    models = models_from_endpoints(endpoints, "nrt-")

    assert models == [
        {"model": "failure", "endpoint": "nrt-failure", "status": "InService", "available": True},
        {"model": "fraud", "endpoint": "nrt-fraud", "status": "Creating", "available": False},
    ]
