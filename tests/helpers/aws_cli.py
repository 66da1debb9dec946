"""The real AWS CLI (awscli, installed beside this Python) as the tests run it: dummy
credentials and a home of its own, so nothing on the machine's ~/.aws is read or written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

AWS = str(Path(sys.executable).with_name("aws"))


def cli_env(home: Path, **settings: str) -> dict[str, str]:
    """The CLI's environment: PATH, a home and config files under `home`, dummy keys, then
    `settings` (AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, ...)."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        **settings,
    }
