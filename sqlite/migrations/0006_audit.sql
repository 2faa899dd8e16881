-- The audit log: one row per change made through the Service, newest read
-- first with keyset pagination on (time, id). Rows name what they describe
-- by ID without foreign keys: the log outlives the records it mentions.
-- detail is a small JSON object that never holds a secret.
CREATE TABLE audit_events (
    id         TEXT    PRIMARY KEY,
    time       INTEGER NOT NULL,
    actor_kind TEXT    NOT NULL,
    actor_id   TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target_id  TEXT    NOT NULL,
    tenant_id  TEXT,
    detail     TEXT    NOT NULL,
    trace_id   TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_events_time ON audit_events (time, id);
CREATE INDEX audit_events_target ON audit_events (target_id, time, id);
CREATE INDEX audit_events_actor ON audit_events (actor_id, time, id);
