CREATE TABLE uploads (
    upload_id  TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username),
    device_id  TEXT NOT NULL,
    space      TEXT NOT NULL,
    size       INTEGER NOT NULL,
    received   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX uploads_by_user ON uploads(username);
CREATE INDEX uploads_by_time ON uploads(created_at);
CREATE TABLE blobs (
    blob_id    TEXT PRIMARY KEY,
    owner      TEXT NOT NULL REFERENCES users(username),
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    linked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX blobs_by_owner ON blobs(owner);
CREATE INDEX blobs_unlinked ON blobs(linked, created_at);
CREATE TABLE space_states (
    space      TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    state      BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE space_rows (
    space    TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    row      BLOB NOT NULL,
    PRIMARY KEY (space, entry_id)
);
CREATE TABLE space_row_blobs (
    space    TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    blob_id  TEXT NOT NULL,
    PRIMARY KEY (space, entry_id, blob_id)
);
CREATE INDEX space_row_blobs_by_blob ON space_row_blobs(blob_id);
