-- Cloud Payments V2 (issue 16): payment requests, their idempotency keys, IC's PostBacks, and the
-- durable outbox of webhook deliveries to the partner. Same portable choices as 0001 (BIGINT
-- microseconds, JSON as TEXT, amounts as exact decimal TEXT, booleans as INTEGER 0/1).

-- One payment page asked of IC. The PostBack URL's token is kept only as its SHA-256.
CREATE TABLE payments (
    payment_id TEXT PRIMARY KEY,
    biller TEXT NOT NULL,
    biller_guid TEXT NOT NULL,
    biller_reference TEXT NOT NULL,
    postback_token_sha256 TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    amount TEXT NOT NULL,
    request TEXT NOT NULL,
    url TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    updated_us BIGINT NOT NULL
);
CREATE INDEX payments_biller_created ON payments (biller, created_us);
CREATE INDEX payments_created ON payments (created_us);

-- Idempotency-Key per biller: the first call's answer, replayed for 24 h. A 'pending' row is the
-- claim of the call in flight (two concurrent identical calls make one IC call).
CREATE TABLE payment_idempotency (
    biller TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    answer TEXT,
    claimed_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    PRIMARY KEY (biller, idempotency_key)
);
CREATE INDEX payment_idempotency_expires ON payment_idempotency (expires_us);

-- IC's PostBacks, typed. PaymentGUID is IC's ID of the payment: a duplicate is stored once.
CREATE TABLE payment_postbacks (
    payment_guid TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    received_us BIGINT NOT NULL,
    approved INTEGER NOT NULL,
    amount TEXT,
    convenience_fee TEXT,
    paid_us BIGINT,
    invoice_number TEXT,
    payment_type_id INTEGER,
    card_type TEXT,
    message TEXT,
    description TEXT,
    customer TEXT NOT NULL,
    remote_ip TEXT
);
CREATE INDEX payment_postbacks_payment ON payment_postbacks (payment_id, received_us);

-- The outbox: one row per event to deliver to the partner's webhook. A node takes an event by
-- writing its lease (lease_owner, lease_until_us); only one delivery of an event is in flight.
CREATE TABLE webhook_events (
    event_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    biller TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_us BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_us BIGINT,
    created_us BIGINT NOT NULL,
    delivered_us BIGINT
);
CREATE INDEX webhook_events_due ON webhook_events (state, next_attempt_us);
CREATE INDEX webhook_events_payment ON webhook_events (payment_id);

-- Every delivery attempt, for the admin console.
CREATE TABLE webhook_attempts (
    event_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at_us BIGINT NOT NULL,
    url TEXT NOT NULL,
    status INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (event_id, attempt)
);
