-- Times are INTEGER unix microseconds, UTC. JSON columns hold arrays or objects
-- encoded by the Go side. STRICT makes SQLite enforce the declared types.

CREATE TABLE tenants (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    email         TEXT    COLLATE NOCASE UNIQUE, -- NULL when the user has no login
    password_hash TEXT    NOT NULL DEFAULT '',
    is_admin      INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) STRICT;

-- position orders a user's tenants by when they were added.
CREATE TABLE memberships (
    user_id   TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    PRIMARY KEY (user_id, tenant_id)
) STRICT;

CREATE INDEX memberships_tenant_id ON memberships (tenant_id);

-- The key itself is never stored: only its SHA-256 and a masked form.
CREATE TABLE api_keys (
    id                   TEXT    PRIMARY KEY,
    hash                 BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    masked               TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    environment          TEXT    NOT NULL,
    permissions          TEXT    NOT NULL DEFAULT '[]',
    owner_id             TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    is_active            INTEGER NOT NULL,
    expires_at           INTEGER,
    revoked_at           INTEGER,
    created_at           INTEGER NOT NULL,
    last_used_at         INTEGER,
    request_count        INTEGER NOT NULL DEFAULT 0,
    rate_limit           INTEGER, -- requests per window; NULL when unlimited
    rate_limit_window_ns INTEGER,
    meta                 TEXT    NOT NULL DEFAULT '{}',
    rotated_from         TEXT,    -- informational: no foreign key, survives deletion of the old key
    CHECK ((rate_limit IS NULL) = (rate_limit_window_ns IS NULL))
) STRICT;

-- ListKeys: newest first, by owner or overall, keyset-paginated on (created_at, id).
CREATE INDEX api_keys_owner_created ON api_keys (owner_id, created_at DESC, id DESC);
CREATE INDEX api_keys_created ON api_keys (created_at DESC, id DESC);

-- position is the key's tenant order: the first is its default tenant.
CREATE TABLE api_key_tenants (
    key_id    TEXT    NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    tenant_id TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    PRIMARY KEY (key_id, tenant_id)
) STRICT;

CREATE INDEX api_key_tenants_tenant_id ON api_key_tenants (tenant_id);

CREATE TABLE root_keys (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    masked     TEXT    NOT NULL,
    scopes     TEXT    NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL
) STRICT;
