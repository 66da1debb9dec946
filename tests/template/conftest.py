"""The template tier: template.yaml and the ASL against AWS's rules, the linters, sam build
(`make template`)."""

from __future__ import annotations

from tests.helpers.fixtures import aws  # noqa: F401 - the local tables are checked against the template
