-- Server-side session state (issue 14): what ends an admin or payer session before its cookie does.
--
-- A session lives in its signed cookie (session ID, start time); this table holds only what
-- revokes sessions, so starting one costs no write. ``scope`` names what a row revokes:
-- ``<kind>:sid:<session id>`` one session (signed out), ``<kind>:all`` every session of that kind
-- (``admin`` or ``payer``), ``payer:biller:<name>`` every payer session of one biller. A session is
-- revoked when any row for its scopes has ``not_before_us`` later than the session's start
-- (a one-session row holds the largest BIGINT). Rows are kept until ``expires_us``, when every
-- session they could revoke has passed its absolute lifetime anyway.
CREATE TABLE session_revocations (
    scope TEXT PRIMARY KEY,
    not_before_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL
);
CREATE INDEX session_revocations_expires ON session_revocations (expires_us);
