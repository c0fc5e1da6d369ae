-- Key rings (issue 19): a signing key belongs to the deployment's ring ('') or to one biller's own ring
-- (the biller's name). Existing keys stay in the deployment ring, so nothing an SP trusts changes.
ALTER TABLE signing_keys ADD COLUMN ring TEXT NOT NULL DEFAULT '';
CREATE INDEX signing_keys_ring ON signing_keys (ring, created_us);
