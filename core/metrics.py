"""Prometheus figures of one running service, in a registry of its own (no global state).

Besides the pipeline's own series, services are counted from what they audit: `CountingAudit`
wraps the pipeline's audit sink and turns the actions the services declared (outcome ok) into
`xaso_service_events_total{service,event}`, so a flow only has to audit what it does. What is
audited outside the pipeline (the announcement scheduler, the Stripe webhook) is passed to
`Metrics.count_audited` by its writer."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from core.pipeline import AuditScalar, AuditSink

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

# How an audited action is counted: a fixed event name, or one read from the entry's detail (a
# dossier's transition is counted by the status it moved to; None: not counted).
EventName = str | Callable[[Mapping[str, AuditScalar] | None], str | None]
# audit action → (service label, event), declared by the services (bots/dialogue/service.py).
ServiceEvents = Mapping[str, tuple[str, EventName]]


class Metrics:
    def __init__(self, events: ServiceEvents | None = None) -> None:
        self.events: ServiceEvents = events or {}
        self.registry = CollectorRegistry()
        self.messages = Counter("xaso_messages", "Messages handled by the pipeline",
                                ["channel", "status"], registry=self.registry)
        self.latency = Histogram("xaso_message_seconds", "Time to handle one message", ["channel"],
                                 buckets=_SECONDS, registry=self.registry)
        self.dialogue_latency = Histogram(
            "xaso_dialogue_seconds", "Time the dialogue takes for one message, by what handled it (the NLU "
            "intent, the command, the button family or the open conversation)", ["channel", "intent"],
            buckets=_SECONDS, registry=self.registry)
        self.nlu_intents = Counter("xaso_nlu_intents", "Intents the NLU recognised", ["intent"],
                                   registry=self.registry)
        self.http_requests = Counter("xaso_http_requests", "HTTP requests answered",
                                     ["method", "route", "status"], registry=self.registry)
        self.http_latency = Histogram("xaso_http_request_seconds", "Time to answer one HTTP request",
                                      ["method", "route"], buckets=_SECONDS, registry=self.registry)
        self.webhook_rejections = Counter("xaso_webhook_rejections", "Webhook requests refused",
                                          ["source", "reason"], registry=self.registry)
        self.nlu_fallbacks = Counter("xaso_nlu_fallbacks", "Messages the embedded NLU answered because "
                                     "the Rasa server could not", ["reason"], registry=self.registry)
        self.stripe_events = Counter("xaso_stripe_events", "Stripe webhook events accepted, by type and "
                                     "what they did", ["type", "outcome"], registry=self.registry)
        self.service_events = Counter("xaso_service_events", "What the services did (dossiers submitted, "
                                      "consults opened, reports opened and resolved…)", ["service", "event"],
                                      registry=self.registry)
        self.outbox = Gauge("xaso_outbox_messages", "Outbox rows by status", ["status"],
                            registry=self.registry)

    def observe_dialogue(self, channel: str, intent: str, seconds: float, *, nlu: bool) -> None:
        self.dialogue_latency.labels(channel=channel, intent=intent).observe(seconds)
        if nlu:
            self.nlu_intents.labels(intent=intent).inc()

    def count_audited(self, action: str, outcome: str, detail: Mapping[str, AuditScalar] | None) -> None:
        if outcome != "ok":
            return
        found = self.events.get(action)
        if found is None:
            return
        service, event = found
        name = event if isinstance(event, str) else event(detail)
        if name is not None:
            self.service_events.labels(service=service, event=name).inc()

    def render(self, outbox_stats: dict[str, int]) -> bytes:
        for status, count in outbox_stats.items():
            self.outbox.labels(status=status).set(count)
        return generate_latest(self.registry)


class CountingAudit:
    """An audit sink that counts service events on the way to the real one."""

    def __init__(self, sink: AuditSink, metrics: Metrics) -> None:
        self.sink = sink
        self.metrics = metrics

    async def record(self, actor: str, action: str, *, subject: str | None = None, outcome: str = "ok",
                     detail: Mapping[str, AuditScalar] | None = None) -> int:
        seq = await self.sink.record(actor, action, subject=subject, outcome=outcome, detail=detail)
        self.metrics.count_audited(action, outcome, detail)
        return seq
