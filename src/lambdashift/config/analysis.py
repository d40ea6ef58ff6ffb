"""``analysis:`` and ``metrics:`` of lambdashift.yaml: the judge's default settings (the keys
of ``core.judge_policy.JudgePolicy.from_params``), merged under every analysis step's own when
the steps are built (``config.rollout``), and where the judge reads its counts."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

from lambdashift.core import strategy
from lambdashift.core import validators as v
from lambdashift.errors import ConfigError

__all__ = ["DEFAULT_METRICS", "METRICS_SOURCES", "parse_analysis", "parse_metrics"]

#: Where the judge reads per-version counts: CloudWatch metrics (the emulator's records on
#: the local stack), Lambda's log streams, or both (whichever has seen more).
METRICS_SOURCES = ("cloudwatch", "logs", "both")
DEFAULT_METRICS = "cloudwatch"


def parse_analysis(raw: object) -> tuple[bool, Mapping[str, Any]]:
    """Whether anything is judged (False for ``analysis: off``) and the judge's defaults,
    checked at load (a bad default must fail before any rollout starts)."""
    if strategy.analysis_off(raw):  # `analysis: off`: no judge defaults, nothing judged
        return False, types.MappingProxyType({})
    analysis = types.MappingProxyType(dict(v.mapping(raw, "analysis")))
    strategy.analysis_step(defaults=analysis)  # builds a policy over them: errors name the key
    return True, analysis


def parse_metrics(raw: object) -> str:
    """``metrics:``: cloudwatch, logs or both."""
    if raw not in METRICS_SOURCES:
        raise ConfigError(f"metrics: must be cloudwatch, logs or both, got {raw!r}")
    return str(raw)
