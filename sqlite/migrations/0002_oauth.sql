-- OAuth 2.0 client credentials (SPEC §10). Client secrets are stored only as
-- SHA-256; signing keys' private halves only sealed by a key-encryption key
-- that never enters the database.

CREATE TABLE oauth_clients (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_hash BLOB    NOT NULL CHECK (length(secret_hash) = 32),
    scopes      TEXT    NOT NULL DEFAULT '[]',
    -- A client belongs to its tenant: deleting the tenant deletes it.
    tenant_id   TEXT    REFERENCES tenants (id) ON DELETE CASCADE,
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX oauth_clients_tenant_id ON oauth_clients (tenant_id);

-- At most one key is active (retired_at IS NULL); retired keys stay until
-- the tokens they signed have expired.
CREATE TABLE oauth_signing_keys (
    id          TEXT    PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    public_key  BLOB    NOT NULL,
    private_key BLOB    NOT NULL, -- sealed; never plaintext
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
) STRICT;

CREATE UNIQUE INDEX oauth_signing_keys_one_active ON oauth_signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;

-- Deny-list of revoked access tokens, pruned once they have expired.
CREATE TABLE oauth_revoked_tokens (
    jti        TEXT    PRIMARY KEY,
    client_id  TEXT    NOT NULL, -- no foreign key: deleting a client already invalidates its tokens
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;

CREATE INDEX oauth_revoked_tokens_expires_at ON oauth_revoked_tokens (expires_at);
