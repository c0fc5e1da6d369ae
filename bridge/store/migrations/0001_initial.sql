-- The bridge's initial schema. Plain SQL that SQLite (>= 3.35) and PostgreSQL both accept.
--
-- Portable choices:
-- * Every time is BIGINT microseconds since the Unix epoch, UTC (exact, compares as a number,
--   identical in both databases; in psql: to_timestamp(at_us / 1e6)).
-- * JSON is TEXT (settings, pending requests, key IDs), written and read by the bridge only.
-- * No auto-increment column (the two spellings differ): the audit trail's tie-breaker
--   ``seq`` is written by the bridge (see bridge.store.sql).
-- Statements end with ";" at the end of a line: the migration runner splits on that.

-- Single-use marks: tickets, AuthnRequest IDs, assertion IDs. The primary key is the lock.
CREATE TABLE used_once (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    expires_us BIGINT NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX used_once_expires ON used_once (expires_us);

-- AuthnRequests waiting for the payer's partner login.
CREATE TABLE pending_requests (
    pending_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_us BIGINT NOT NULL
);
CREATE INDEX pending_requests_expires ON pending_requests (expires_us);

-- Signing-key lifecycle (the private key itself stays a file).
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    key_path TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    published_us BIGINT,
    activated_us BIGINT,
    retiring_us BIGINT,
    retired_us BIGINT
);

-- Billers (tenants). A GUID names exactly one biller.
CREATE TABLE billers (
    name TEXT PRIMARY KEY,
    biller_guid TEXT NOT NULL UNIQUE,
    sp_entity_id TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_us BIGINT
);

-- Partner API keys. Deleting a biller deletes its keys, so a later biller of the same
-- name never inherits them.
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    biller TEXT NOT NULL REFERENCES billers (name) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    revoked_us BIGINT
);
CREATE INDEX api_keys_biller ON api_keys (biller);

-- The audit trail. No ticket, assertion or secret is ever written here.
CREATE TABLE audit_events (
    at_us BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    biller TEXT,
    sp TEXT,
    account TEXT,
    email TEXT,
    login_type TEXT,
    flow TEXT,
    client_ip TEXT,
    actor TEXT,
    detail TEXT
);
CREATE INDEX audit_events_at ON audit_events (at_us, seq);
CREATE INDEX audit_events_biller_at ON audit_events (biller, at_us, seq);

-- Who fetched the IdP metadata and which key IDs it listed (the rollover guard).
CREATE TABLE metadata_fetches (
    at_us BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    client_ip TEXT,
    user_agent TEXT,
    kids TEXT NOT NULL
);
CREATE INDEX metadata_fetches_at ON metadata_fetches (at_us, seq);

-- Fixed-window rate-limit counters shared by every node.
CREATE TABLE rate_windows (
    bucket TEXT NOT NULL,
    window_start_us BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start_us)
);
CREATE INDEX rate_windows_expires ON rate_windows (expires_us);
