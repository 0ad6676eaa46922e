-- Running the server: invitations (only the SHA-256 of each token), accounts the operator
-- disabled or deleted, and when each device last made a signed request (to the minute).
CREATE TABLE invites (
    token_hash BLOB PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE devices ADD COLUMN last_seen_at INTEGER;
CREATE TABLE deleted_users (
    username   TEXT PRIMARY KEY,
    deleted_at INTEGER NOT NULL
);
