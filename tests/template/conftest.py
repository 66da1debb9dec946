"""The template tier: template.yaml and the ASL against AWS's rules, the linters, sam build
(`make template`)."""

from __future__ import annotations
