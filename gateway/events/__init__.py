"""Site -> head office events: the gateway's conclusions (ticket changes, finished rounds, device
state, its own health) as events with stable ids, written to a durable outbox and published QoS1 on
the site broker, which bridges them to head office (docs/events.md)."""
