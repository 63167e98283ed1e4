"""Seams of the server: what the HTTP API needs from rules, scraping and alert delivery.

The API serves ``/api/v1/rules``, ``/alerts``, ``/targets``, ``/targets/metadata``,
``/metadata`` and ``/alertmanagers`` from these providers. Until the rules
manager, the scrape manager and the notifier are plugged in, the ``Empty*``
defaults below answer with Prometheus's exact empty shapes (``{"groups": []}``,
``{"alerts": []}``, ``{"activeTargets": [], "droppedTargets": [], …}``), so
clients such as Grafana and promtool work against a server that has none yet.

Every provider returns JSON-ready structures in Prometheus's API shape (keys
spelled as Prometheus spells them); the API adds ``status``/``data`` around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AlertmanagerProvider",
    "EmptyRuleManager",
    "EmptyTargetProvider",
    "RuleManager",
    "StaticAlertmanagers",
    "TargetProvider",
]


@runtime_checkable
class RuleManager(Protocol):
    """Recording/alerting rule evaluation (``promql/rules.py`` will implement it).

    ``rule_groups()`` returns the entries of ``/api/v1/rules``'s ``groups`` list:
    ``{"name", "file", "rules": [...], "interval", "limit", "evaluationTime",
    "lastEvaluation"}`` with each rule as Prometheus renders it (``state``,
    ``name``, ``query``, ``duration``, ``keepFiringFor``, ``labels``,
    ``annotations``, ``alerts``, ``health``, ``lastError``, ``evaluationTime``,
    ``lastEvaluation``, ``type`` = ``"alerting"``/``"recording"``).
    ``alerts()`` returns ``/api/v1/alerts`` entries (``labels``, ``annotations``,
    ``state``, ``activeAt``, ``value``).
    """

    def rule_groups(self) -> list[dict[str, Any]]: ...

    def alerts(self) -> list[dict[str, Any]]: ...

    async def update(self, interval_ms: int, files: Sequence[str], external_labels: dict[str, str]) -> None:
        """Load rule files (on start and on every config reload); raise on invalid files."""
        ...

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class EmptyRuleManager:
    """No rules yet: empty ``groups`` and ``alerts``; ``update`` accepts and ignores files."""

    def rule_groups(self) -> list[dict[str, Any]]:
        return []

    def alerts(self) -> list[dict[str, Any]]:
        return []

    async def update(self, interval_ms: int, files: Sequence[str], external_labels: dict[str, str]) -> None:
        return None

    async def run(self) -> None:
        return None

    def stop(self) -> None:
        return None


@runtime_checkable
class TargetProvider(Protocol):
    """The scrape manager's view for the API.

    ``active_targets()`` / ``dropped_targets()`` return ``/api/v1/targets`` entries
    (``discoveredLabels``, ``labels``, ``scrapePool``, ``scrapeUrl``,
    ``globalUrl``, ``lastError``, ``lastScrape``, ``lastScrapeDuration``,
    ``health``, ``scrapeInterval``, ``scrapeTimeout``);
    ``dropped_target_counts()`` maps scrape pool to count; ``metadata()`` maps
    metric name to a list of ``{"type", "help", "unit"}``; ``targets_metadata()``
    lists ``{"target", "metric", "type", "help", "unit"}``.
    """

    def active_targets(self) -> list[dict[str, Any]]: ...

    def dropped_targets(self) -> list[dict[str, Any]]: ...

    def dropped_target_counts(self) -> dict[str, int]: ...

    def metadata(self) -> dict[str, list[dict[str, str]]]: ...

    def targets_metadata(self) -> list[dict[str, Any]]: ...


class EmptyTargetProvider:
    """No scraping yet: every list is empty."""

    def active_targets(self) -> list[dict[str, Any]]:
        return []

    def dropped_targets(self) -> list[dict[str, Any]]:
        return []

    def dropped_target_counts(self) -> dict[str, int]:
        return {}

    def metadata(self) -> dict[str, list[dict[str, str]]]:
        return {}

    def targets_metadata(self) -> list[dict[str, Any]]:
        return []


@runtime_checkable
class AlertmanagerProvider(Protocol):
    """The notifier's Alertmanager set: ``/api/v2/alerts`` URLs, active and dropped."""

    def active_alertmanagers(self) -> list[str]: ...

    def dropped_alertmanagers(self) -> list[str]: ...


class StaticAlertmanagers:
    """Alertmanagers as the config's ``static_configs`` name them (no discovery, no relabeling).

    Stands in until the notifier lands; its URLs are the ones alerts will be posted to.
    """

    def __init__(self, urls: Sequence[str] = ()) -> None:
        self.urls = list(urls)

    def active_alertmanagers(self) -> list[str]:
        return list(self.urls)

    def dropped_alertmanagers(self) -> list[str]:
        return []
