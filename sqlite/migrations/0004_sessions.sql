-- Dashboard sessions. id is the SHA-256 of the token in the browser's cookie;
-- the token itself is never stored. Deleting a user ends its sessions.
CREATE TABLE sessions (
    id           BLOB    PRIMARY KEY CHECK (length(id) = 32),
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
