-- Change versions (issue 21): a counter per topic that the database itself bumps, in the same transaction as
-- the change, whenever rows of the topic's table are inserted, updated or deleted. A node caches billers and
-- session liveness in memory (bridge/store_cache.py) and polls this one small table to learn when to drop
-- what it holds; no write path can forget to tell it, because no write path does.
-- Statement triggers: a purge of many rows bumps once. The function and each trigger are one line (the
-- migration runner splits on ";" at line ends).
CREATE TABLE change_versions (
    topic TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO change_versions (topic, version) VALUES ('billers', 1), ('session_revocations', 1);
CREATE FUNCTION bridge_bump_change_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE change_versions SET version = version + 1 WHERE topic = TG_ARGV[0]; RETURN NULL; END $$;
CREATE TRIGGER billers_changed AFTER INSERT OR UPDATE OR DELETE ON billers FOR EACH STATEMENT EXECUTE FUNCTION bridge_bump_change_version('billers');
CREATE TRIGGER session_revocations_changed AFTER INSERT OR UPDATE OR DELETE ON session_revocations FOR EACH STATEMENT EXECUTE FUNCTION bridge_bump_change_version('session_revocations');
