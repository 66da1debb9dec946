"""The workflow tier: the real ASL and functions on the embedded AWS, in process (`make workflow`)."""

from __future__ import annotations

from tests.helpers.fixtures import aws, model_dir, model_host  # noqa: F401 - fixtures of this tier
