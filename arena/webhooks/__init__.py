"""Webhooks: signed, retried notifications to a contestant's endpoint (docs/webhooks.md)."""

from arena.webhooks.delivery import (
    AddressPolicy,
    Deliverer,
    DeliveryResult,
    Endpoint,
    EndpointError,
    RetryPolicy,
    check_endpoint,
    deliver_all,
    run_worker,
)
from arena.webhooks.events import (
    EVENT_TYPES,
    WebhookEvent,
    events_from_bot_messages,
    random_event_id,
    tournament_finished_message,
)
from arena.webhooks.signing import SignatureError, new_secret, sign, signature_header, standard_secret, verify

__all__ = [
    "EVENT_TYPES",
    "AddressPolicy",
    "Deliverer",
    "DeliveryResult",
    "Endpoint",
    "EndpointError",
    "RetryPolicy",
    "SignatureError",
    "WebhookEvent",
    "check_endpoint",
    "deliver_all",
    "events_from_bot_messages",
    "new_secret",
    "random_event_id",
    "run_worker",
    "sign",
    "signature_header",
    "standard_secret",
    "tournament_finished_message",
    "verify",
]
