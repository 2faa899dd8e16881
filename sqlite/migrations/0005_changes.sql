-- The change feed: each mutation that could change what a cached credential
-- means appends a row here in its own transaction, and every process on
-- this file (a server beside the CLI) polls for rows past the last it saw.
-- key_id is the changed key, or '*' for anything (tenants, root keys).
-- AUTOINCREMENT: a seq is never reused, even after old rows are pruned.
CREATE TABLE changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX changes_created_at ON changes (created_at);
