DROP TABLE link_requests;
CREATE TABLE link_requests (
    link_id        TEXT PRIMARY KEY,
    username       TEXT NOT NULL REFERENCES users(username),
    selector       TEXT NOT NULL,
    pake           BLOB NOT NULL,
    answer_pake    BLOB,
    answer_confirm BLOB,
    device_key     BLOB,
    device_mac     BLOB,
    sealed         BLOB,
    failed         INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX link_requests_by_user ON link_requests(username, expires_at);
