"""Prometheus figures of one running service, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter("xaso_messages", "Messages handled by the pipeline",
                                ["channel", "status"], registry=self.registry)
        self.latency = Histogram("xaso_message_seconds", "Time to handle one message", ["channel"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                                 registry=self.registry)
        self.webhook_rejections = Counter("xaso_webhook_rejections", "Webhook requests refused",
                                          ["source", "reason"], registry=self.registry)
        self.nlu_fallbacks = Counter("xaso_nlu_fallbacks", "Messages the embedded NLU answered because "
                                     "the Rasa server could not", ["reason"], registry=self.registry)
        self.stripe_events = Counter("xaso_stripe_events", "Stripe webhook events accepted, by type and "
                                     "what they did", ["type", "outcome"], registry=self.registry)
        self.outbox = Gauge("xaso_outbox_messages", "Outbox rows by status", ["status"],
                            registry=self.registry)

    def render(self, outbox_stats: dict[str, int]) -> bytes:
        for status, count in outbox_stats.items():
            self.outbox.labels(status=status).set(count)
        return generate_latest(self.registry)
