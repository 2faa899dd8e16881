-- The permission catalog: when it has rows, keys may only hold permissions it
-- allows. Removing a row does not touch keys that hold the permission.
CREATE TABLE permissions (
    name        TEXT    PRIMARY KEY,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) STRICT;
