ALTER TABLE devices ADD COLUMN revoked_at INTEGER;
CREATE TABLE backups (
    username   TEXT PRIMARY KEY REFERENCES users(username),
    auth_key   BLOB NOT NULL,
    version    INTEGER NOT NULL,
    blob       BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE recovery_attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    username   TEXT NOT NULL,
    attempt_at INTEGER NOT NULL
);
CREATE INDEX recovery_attempts_by_user ON recovery_attempts(username, attempt_at);
CREATE INDEX recovery_attempts_by_time ON recovery_attempts(attempt_at);
