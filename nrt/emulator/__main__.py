"""python -m nrt.emulator fingerprints|table"""

from __future__ import annotations

import json
import sys

from nrt.emulator import REGISTRY, current_fingerprints

if __name__ == "__main__":
    if sys.argv[1:] == ["fingerprints"]:
        print(json.dumps(current_fingerprints(), indent=1, sort_keys=True))
    elif sys.argv[1:] == ["table"]:
        for entry in REGISTRY:
            print(f"| {entry.name} | {entry.kind} | {entry.aws} | {entry.upstream} |")
    else:
        sys.exit("usage: python -m nrt.emulator fingerprints|table")
