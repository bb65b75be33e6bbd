"""Blessing thresholds (after TFX's value and change thresholds), parsed and checked without TensorFlow so
that a bad threshold flag is refused before any work.

  value thresholds   "fid<=15", "is>=8.5", "modes>=8": each must hold.
  change thresholds  "fid:2" (absolute) or "fid:10%" (relative): the model may be worse than the baseline
                     by at most that much, in the metric's better direction (`tfgan.choices.RESULT_KEYS`).
"""

from __future__ import annotations

import dataclasses
import re

from tfgan import choices

_VALUE = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")
_CHANGE = re.compile(r"^\s*([a-z_0-9]+)\s*:\s*([0-9.eE+]+)(%?)\s*$")


@dataclasses.dataclass(frozen=True)
class ValueThreshold:
    metric: str
    op: str
    bound: float

    def holds(self, value: float) -> bool:
        return {"<=": value <= self.bound, ">=": value >= self.bound, "<": value < self.bound,
                ">": value > self.bound}[self.op]

    def __str__(self):
        return f"{self.metric}{self.op}{self.bound:g}"


@dataclasses.dataclass(frozen=True)
class ChangeThreshold:
    metric: str
    allowed: float
    relative: bool

    def __str__(self):
        return f"{self.metric}:{self.allowed:g}{'%' if self.relative else ''}"


def _known_metric(name: str, flag: str, text: str):
    try:
        choices.metric_lower_is_better(name)
    except ValueError as e:
        raise ValueError(f"--{flag}={text}: {e}") from None


def parse_value_thresholds(texts) -> list[ValueThreshold]:
    """["fid<=15", ...] -> thresholds. Raises ValueError naming the flag and the form."""
    result = []
    for text in texts:
        m = _VALUE.match(text)
        if not m:
            raise ValueError(f"--bless_thresholds={text}: expected METRIC<=VALUE or METRIC>=VALUE, e.g. fid<=15")
        _known_metric(m.group(1), "bless_thresholds", text)
        result.append(ValueThreshold(m.group(1), m.group(2), float(m.group(3))))
    return result


def parse_change_thresholds(texts) -> list[ChangeThreshold]:
    """["fid:2", "is:5%"] -> thresholds. Raises ValueError naming the flag and the form."""
    result = []
    for text in texts:
        m = _CHANGE.match(text)
        if not m:
            raise ValueError(f"--bless_change_thresholds={text}: expected METRIC:ALLOWED or METRIC:PERCENT%, "
                             f"e.g. fid:2 or fid:10%")
        _known_metric(m.group(1), "bless_change_thresholds", text)
        result.append(ChangeThreshold(m.group(1), float(m.group(2)), bool(m.group(3))))
    return result


def bless(metrics: dict, values: list[ValueThreshold], changes: list[ChangeThreshold],
          baseline: dict | None) -> tuple[bool, list[str]]:
    """(blessed, reasons): every threshold must hold; the reasons name each that does not."""
    reasons = []
    for t in values:
        if t.metric not in metrics:
            reasons.append(f"{t.metric} was not measured (threshold {t})")
        elif not t.holds(metrics[t.metric]):
            reasons.append(f"{t.metric} {metrics[t.metric]:.4g} fails {t}")
    for t in changes:
        if baseline is None or t.metric not in baseline:
            continue
        if t.metric not in metrics:
            reasons.append(f"{t.metric} was not measured (change threshold {t})")
            continue
        new, old = metrics[t.metric], baseline[t.metric]
        worse = new - old if choices.metric_lower_is_better(t.metric) else old - new
        allowed = t.allowed / 100.0 * abs(old) if t.relative else t.allowed
        if worse > allowed:
            reasons.append(f"{t.metric} {new:.4g} is {worse:.4g} worse than the baseline's {old:.4g} "
                           f"(allowed {allowed:.4g}, threshold {t})")
    return not reasons, reasons
