-- Change versions (issue 21): a counter per topic that the database itself bumps, in the same transaction as
-- the change, whenever a row of the topic's table is inserted, updated or deleted. A node caches billers and
-- session liveness in memory (bridge/store_cache.py) and polls this one small table to learn when to drop
-- what it holds; no write path can forget to tell it, because no write path does.
-- SQLite has row triggers only; each trigger is one line (the migration runner splits on ";" at line ends).
CREATE TABLE change_versions (
    topic TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO change_versions (topic, version) VALUES ('billers', 1), ('session_revocations', 1);
CREATE TRIGGER billers_inserted AFTER INSERT ON billers BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'billers'; END;
CREATE TRIGGER billers_updated AFTER UPDATE ON billers BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'billers'; END;
CREATE TRIGGER billers_deleted AFTER DELETE ON billers BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'billers'; END;
CREATE TRIGGER session_revocations_inserted AFTER INSERT ON session_revocations BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'session_revocations'; END;
CREATE TRIGGER session_revocations_updated AFTER UPDATE ON session_revocations BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'session_revocations'; END;
CREATE TRIGGER session_revocations_deleted AFTER DELETE ON session_revocations BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = 'session_revocations'; END;
