-- Leases: a short exclusive hold on a name, shared by every node (e.g. "rest-sso:<biller>:<account>",
-- so two first launches for one account create one IC customer record). A lease past expires_us
-- may be taken over: a node that died holding one blocks nobody for longer than its lifetime.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_us BIGINT NOT NULL
);
CREATE INDEX leases_expires ON leases (expires_us);
