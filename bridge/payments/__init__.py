"""Payments through Invoice Cloud's Cloud Payments V2: models (the API's input), service (create, poll),
postbacks (IC's notification), outbox and webhooks (delivery to the partner), store (their tables)."""
