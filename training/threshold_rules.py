"""What a binary model's decision threshold is chosen for: the best F1, a precision to keep, or
the least cost of its mistakes.

`nrt train --threshold-for` takes the rule as text, the recipe keeps it (so a retrained model
chooses its threshold the same way), and the model card says which rule chose the threshold:

- `f1`: the probability that maximises F1;
- `precision:P`: the lowest probability whose precision is at least P, so the most recall at
  that precision (a fraud team: "at most 1 alert in 10 may be a good customer" is `precision:0.9`);
  none reaches P: the threshold of the best precision, said in the card's rule;
- `cost:FN:FP`: the probability with the least total cost, a missed positive costing FN and a
  false alarm FP (a fraud team: a missed fraud costs the order, $120; a declined good customer, $5:
  `cost:120:5`).

Every rule is applied to scores the model never trained on (each row scored out of fold).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

__all__ = ["RULES", "ThresholdRule", "parse"]

RULES = "f1, precision:P (0 < P < 1), or cost:FN:FP (the cost of a missed positive and of a false alarm, > 0)"


@dataclass(frozen=True)
class ThresholdRule:
    kind: str  # "f1", "precision" or "cost"
    precision: float = 0.0
    missed_cost: float = 0.0
    alarm_cost: float = 0.0

    def describe(self) -> str:
        if self.kind == "precision":
            return f"the (calibrated) probability with the most recall at precision {self.precision:g} or more"
        if self.kind == "cost":
            return (
                f"the (calibrated) probability with the least cost (a missed positive {self.missed_cost:g}, "
                f"a false alarm {self.alarm_cost:g})"
            )
        return "the (calibrated) probability that maximises F1"

    def choose(self, truth: Any, scores: Any) -> float:
        """The threshold (a probability: positive at or above it) the rule picks on these scores."""
        truth = np.asarray(truth, dtype=bool)
        scores = np.asarray(scores, dtype=float)
        if self.kind == "cost":
            return _least_cost(truth, scores, self.missed_cost, self.alarm_cost)
        precision, recall, thresholds = precision_recall_curve(truth, scores)
        if not len(thresholds):
            return 0.5
        # precision[i] and recall[i] are those of thresholds[i]; the last point has no threshold.
        precision, recall = precision[:-1], recall[:-1]
        if self.kind == "precision":
            reaching = np.flatnonzero(precision >= self.precision)
            best = int(reaching[0]) if len(reaching) else int(np.argmax(precision))
        else:
            f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
            best = int(np.argmax(f1))
        return round(float(thresholds[best]), 6)


def _least_cost(truth: Any, scores: Any, missed_cost: float, alarm_cost: float) -> float:
    """Every distinct score as a threshold: FN x missed_cost + FP x alarm_cost, the least wins (the
    highest threshold on a tie, so the fewest alarms)."""
    order = np.argsort(-scores, kind="stable")
    ranked, positives = scores[order], truth[order]
    # Flagging the top k rows: true positives and false alarms so far, at each distinct score's last row.
    caught = np.cumsum(positives)
    alarms = np.cumsum(~positives)
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    cost = (caught[-1] - caught[last]) * missed_cost + alarms[last] * alarm_cost
    flag_none = caught[-1] * missed_cost
    best = int(np.argmin(cost))
    if flag_none <= cost[best]:
        return round(float(np.nextafter(ranked[0], np.inf)), 6) if len(ranked) else 0.5
    return round(float(ranked[last[best]]), 6)


def parse(text: str) -> ThresholdRule:
    """`f1`, `precision:0.9` or `cost:120:5` as a rule; ValueError naming RULES otherwise."""
    kind, *values = text.strip().lower().split(":")
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise ValueError(f"threshold rule {text!r}: numbers expected after the colon; one of {RULES}") from None
    rule = _RULES.get((kind, len(numbers)))
    if rule is None or not _VALID[kind](numbers):
        raise ValueError(f"threshold rule {text!r}: expected one of {RULES}")
    return rule(numbers)


# (kind, how many numbers) -> the rule; each kind's numbers checked by _VALID.
_RULES: dict[tuple[str, int], Callable[[list[float]], ThresholdRule]] = {
    ("f1", 0): lambda _: ThresholdRule("f1"),
    ("precision", 1): lambda n: ThresholdRule("precision", precision=n[0]),
    ("cost", 2): lambda n: ThresholdRule("cost", missed_cost=n[0], alarm_cost=n[1]),
}
_VALID: dict[str, Callable[[list[float]], bool]] = {
    "f1": lambda _: True,
    "precision": lambda n: 0 < n[0] < 1,
    "cost": lambda n: min(n) > 0,
}
