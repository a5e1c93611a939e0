"""Prometheus figures of one running service, in a registry of its own (no global state).

Besides the pipeline's own series, services are counted from what they audit: `CountingAudit`
wraps the pipeline's audit sink and turns the actions listed in `SERVICE_EVENTS` (outcome ok) into
`xaso_service_events_total{service,event}`, so a flow only has to audit what it does. What is
audited outside the pipeline (the announcement scheduler, the Stripe webhook) is passed to
`Metrics.count_audited` by its writer."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from core.pipeline import AuditScalar, AuditSink

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

# audit action → (service, event). A dossier's transition is counted by the status it moved to.
SERVICE_EVENTS: dict[str, tuple[str, str]] = {
    "dossier.submit": ("onestop", "submitted"),
    "dossier.answer": ("onestop", "answered"),
    "dossier.signed": ("onestop", "signed"),
    "health.emergency": ("health", "emergencies"),
    "health.consult_open": ("health", "consults_opened"),
    "health.consult_answer": ("health", "consult_answers"),
    "health.consult_close": ("health", "consults_closed"),
    "report.open": ("reports", "opened"),
    "report.link": ("reports", "linked"),
    "report.assign": ("reports", "assigned"),
    "report.resolve": ("reports", "resolved"),
    "report.confirm": ("reports", "confirmed"),
    "report.reopen": ("reports", "reopened"),
    "shop.order": ("shop", "orders_placed"),
    "shop.payment_confirm": ("shop", "orders_paid"),  # cash or transfer, confirmed by the seller
    "shop.payment_settled": ("shop", "orders_paid"),  # card, from the Stripe webhook
    "shop.shipped": ("shop", "orders_shipped"),
    "shop.delivered": ("shop", "orders_delivered"),
    "shop.cancel": ("shop", "orders_cancelled"),
    "announce.published": ("announcements", "published"),  # now, or by the scheduler at its time
    "announce.scheduled": ("announcements", "scheduled"),
    "role.join": ("account", "roles_joined"),
    "mydata.export": ("account", "exports"),
    "mydata.delete": ("account", "deletions"),
}
_DOSSIER_MOVES = frozenset({"processing", "needs_info", "approved", "rejected", "delivered"})


class Metrics:
    def __init__(self) -> None:
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
        if action == "dossier.transition":
            moved = str((detail or {}).get("to"))
            if moved in _DOSSIER_MOVES:
                self.service_events.labels(service="onestop", event=moved).inc()
            return
        found = SERVICE_EVENTS.get(action)
        if found is not None:
            self.service_events.labels(service=found[0], event=found[1]).inc()

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
