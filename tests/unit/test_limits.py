"""docs/user-guide.md#limits: the batch widths it states, computed as the API counts a body."""

from __future__ import annotations

import json
import re
from pathlib import Path

from nrt.template import load_template
from training import inference

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "user-guide.md").read_text()


def body_limit() -> int:
    """The character limit the request mapping template applies (template.yaml)."""
    text = json.dumps(load_template(ROOT / "template.yaml"), default=str)
    [limit] = {int(n) for n in re.findall(r"input\.body\.length\(\) > (\d+)", text)}
    return limit


def fits(readings: int, reading: dict[str, object]) -> bool:
    body = {
        "model": "spend",
        "readings": [{"sensor": "sensor-0001", "timestamp": 1_700_000_000_000, **reading}] * readings,
    }
    return len(json.dumps(body)) <= body_limit()


def named(width: int) -> dict[str, object]:
    return {"features": {f"f{i:014d}": 123.45 for i in range(width)}}  # 15-character names


def test_the_body_limit_the_guide_states_is_the_templates():
    assert f"| body | {body_limit():,} characters" in GUIDE


def test_the_batch_widths_the_guide_states_are_the_largest_that_fit():
    assert fits(100, {"data": [123.45] * 71}) and not fits(100, {"data": [123.45] * 72})
    assert fits(100, named(21)) and not fits(100, named(22))
    assert fits(70, named(31)) and not fits(71, named(31)) and not fits(100, named(31))
    assert "up to 71 positional values" in GUIDE and "up to\n21 named features" in GUIDE
    assert "with 31 such features 70 readings fit" in GUIDE


def test_the_reply_bounds_the_guide_states_are_the_serving_codes():
    assert f"`probabilities` of the {inference.TOP_LABELS} most likely labels" in GUIDE
    assert f"cut to {inference.MAX_MESSAGE} characters" in GUIDE
