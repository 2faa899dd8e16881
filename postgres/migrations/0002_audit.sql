-- The audit log: one row per change made through the Service, newest read
-- first with keyset pagination on (time, id). Rows name what they describe
-- by ID without foreign keys: the log outlives the records it mentions.
-- detail is a small JSON object that never holds a secret.
CREATE TABLE audit_events (
    id         text COLLATE "C" PRIMARY KEY,
    time       timestamptz NOT NULL,
    actor_kind text COLLATE "C" NOT NULL,
    actor_id   text COLLATE "C" NOT NULL,
    action     text COLLATE "C" NOT NULL,
    target_id  text COLLATE "C" NOT NULL,
    tenant_id  text,
    detail     json        NOT NULL,
    trace_id   text        NOT NULL
);

CREATE INDEX audit_events_time ON audit_events (time, id);
CREATE INDEX audit_events_target ON audit_events (target_id, time, id);
CREATE INDEX audit_events_actor ON audit_events (actor_id, time, id);
