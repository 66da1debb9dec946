"""The workflow tier: the real ASL and functions on the embedded AWS, in process (`make workflow`)."""

from __future__ import annotations
