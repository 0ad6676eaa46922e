CREATE TABLE guardian_backups (
    username   TEXT PRIMARY KEY REFERENCES users(username),
    auth_key   BLOB NOT NULL,
    version    INTEGER NOT NULL,
    blob       BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
ALTER TABLE recovery_attempts ADD COLUMN kind TEXT NOT NULL DEFAULT 'phrase';
DROP INDEX recovery_attempts_by_user;
CREATE INDEX recovery_attempts_by_user ON recovery_attempts(kind, username, attempt_at);
CREATE TABLE guardian_requests (
    request_id TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username),
    hpke_key   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX guardian_requests_by_user ON guardian_requests(username, expires_at);
CREATE INDEX guardian_requests_by_expiry ON guardian_requests(expires_at);
CREATE TABLE guardian_shares (
    request_id TEXT NOT NULL REFERENCES guardian_requests(request_id),
    device_id  TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, device_id)
);
