-- Latchkey's schema on PostgreSQL: the same records and rules as the SQLite
-- store. Identifiers use the "C" collation so that ORDER BY id and keyset
-- cursors (id > $1) follow byte order, as in SQLite, whatever the
-- database's locale. Times are timestamptz (microsecond precision).

CREATE TABLE tenants (
    id         text COLLATE "C" PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE users (
    id            text COLLATE "C" PRIMARY KEY,
    email         text,                -- NULL when the user has no login
    password_hash text        NOT NULL DEFAULT '',
    is_admin      boolean     NOT NULL DEFAULT false,
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);

-- Emails are unique ignoring case; UserByEmail uses the same expression.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- position orders a user's tenants by when they were added.
CREATE TABLE memberships (
    user_id   text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    PRIMARY KEY (user_id, tenant_id)
);

CREATE INDEX memberships_tenant_id ON memberships (tenant_id);

-- The key itself is never stored: only its SHA-256 and a masked form. meta
-- is json, not jsonb: it is only ever read back whole, and json keeps it as
-- written.
CREATE TABLE api_keys (
    id                   text COLLATE "C" PRIMARY KEY,
    hash                 bytea       NOT NULL CHECK (length(hash) = 32),
    masked               text        NOT NULL,
    name                 text        NOT NULL,
    environment          text        NOT NULL,
    permissions          text[]      NOT NULL DEFAULT '{}',
    owner_id             text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    is_active            boolean     NOT NULL,
    expires_at           timestamptz,
    revoked_at           timestamptz,
    created_at           timestamptz NOT NULL,
    last_used_at         timestamptz,
    request_count        bigint      NOT NULL DEFAULT 0,
    rate_limit           bigint,      -- requests per window; NULL when unlimited
    rate_limit_window_ns bigint,
    meta                 json        NOT NULL DEFAULT '{}',
    rotated_from         text,        -- informational: no foreign key, survives deletion of the old key
    CONSTRAINT api_keys_hash_key UNIQUE (hash),
    CHECK ((rate_limit IS NULL) = (rate_limit_window_ns IS NULL))
);

-- ListKeys: newest first, by owner or overall, keyset-paginated on (created_at, id).
CREATE INDEX api_keys_owner_created ON api_keys (owner_id, created_at DESC, id DESC);
CREATE INDEX api_keys_created ON api_keys (created_at DESC, id DESC);

-- position is the key's tenant order: the first is its default tenant.
CREATE TABLE api_key_tenants (
    key_id    text COLLATE "C" NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    PRIMARY KEY (key_id, tenant_id)
);

CREATE INDEX api_key_tenants_tenant_id ON api_key_tenants (tenant_id);

CREATE TABLE root_keys (
    id         text COLLATE "C" PRIMARY KEY,
    name       text        NOT NULL,
    hash       bytea       NOT NULL CHECK (length(hash) = 32),
    masked     text        NOT NULL,
    scopes     text[]      NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    CONSTRAINT root_keys_hash_key UNIQUE (hash)
);

-- OAuth 2.0 client credentials (SPEC §10). Client secrets are stored only as
-- SHA-256; signing keys' private halves only sealed by a key-encryption key
-- that never enters the database (LATCHKEY_SECRET_KEY).
CREATE TABLE oauth_clients (
    id          text COLLATE "C" PRIMARY KEY,
    name        text        NOT NULL,
    secret_hash bytea       NOT NULL CHECK (length(secret_hash) = 32),
    scopes      text[]      NOT NULL DEFAULT '{}',
    -- A client belongs to its tenant: deleting the tenant deletes it.
    tenant_id   text COLLATE "C" REFERENCES tenants (id) ON DELETE CASCADE,
    disabled    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);

CREATE INDEX oauth_clients_tenant_id ON oauth_clients (tenant_id);

-- At most one key is active (retired_at IS NULL); retired keys stay until
-- the tokens they signed have expired.
CREATE TABLE oauth_signing_keys (
    id          text COLLATE "C" PRIMARY KEY,
    algorithm   text        NOT NULL,
    public_key  bytea       NOT NULL,
    private_key bytea       NOT NULL, -- sealed; never plaintext
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);

CREATE UNIQUE INDEX oauth_signing_keys_one_active ON oauth_signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;

-- Deny-list of revoked access tokens, pruned once they have expired.
CREATE TABLE oauth_revoked_tokens (
    jti        text COLLATE "C" PRIMARY KEY,
    client_id  text        NOT NULL, -- no foreign key: deleting a client already invalidates its tokens
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL
);

CREATE INDEX oauth_revoked_tokens_expires_at ON oauth_revoked_tokens (expires_at);

-- The permission catalog: when it has rows, keys may only hold permissions it
-- allows. Removing a row does not touch keys that hold the permission.
CREATE TABLE permissions (
    name        text COLLATE "C" PRIMARY KEY,
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);

-- Dashboard sessions. id is the SHA-256 of the token in the browser's cookie;
-- the token itself is never stored. Deleting a user ends its sessions.
CREATE TABLE sessions (
    id           bytea       PRIMARY KEY CHECK (length(id) = 32),
    user_id      text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
