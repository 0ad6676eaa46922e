CREATE TABLE users (
    username     TEXT PRIMARY KEY,
    identity_key BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE TABLE devices (
    device_id   TEXT PRIMARY KEY,
    username    TEXT NOT NULL REFERENCES users(username),
    public_key  BLOB NOT NULL UNIQUE,
    certificate BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX devices_by_user ON devices(username);
CREATE TABLE key_packages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   TEXT NOT NULL REFERENCES devices(device_id),
    data        BLOB NOT NULL,
    last_resort INTEGER NOT NULL
);
CREATE INDEX key_packages_by_device ON key_packages(device_id, last_resort, id);
CREATE TABLE mls_groups (
    group_id   BLOB PRIMARY KEY,
    epoch      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE group_members (
    group_id  BLOB NOT NULL REFERENCES mls_groups(group_id),
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    PRIMARY KEY (group_id, device_id)
);
CREATE INDEX group_members_by_device ON group_members(device_id);
CREATE TABLE messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id      BLOB REFERENCES mls_groups(group_id),
    sender_device TEXT,
    kind          TEXT NOT NULL,
    payload       BLOB NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE inbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  TEXT NOT NULL REFERENCES devices(device_id),
    message_id INTEGER NOT NULL REFERENCES messages(id)
);
CREATE INDEX inbox_by_device ON inbox(device_id, id);
CREATE INDEX inbox_by_message ON inbox(message_id);
CREATE TABLE nonces (
    device_id  TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX nonces_by_expiry ON nonces(expires_at);
