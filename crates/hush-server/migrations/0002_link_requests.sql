CREATE TABLE link_requests (
    link_id    TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username),
    device_key BLOB NOT NULL,
    hpke_key   BLOB NOT NULL,
    sealed     BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX link_requests_by_user ON link_requests(username, expires_at);
