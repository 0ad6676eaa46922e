CREATE TABLE akd_records (
    key   BLOB PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE akd_value_states (
    username  BLOB NOT NULL,
    epoch     INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    label_val BLOB NOT NULL,
    label_len INTEGER NOT NULL,
    value     BLOB NOT NULL,
    PRIMARY KEY (username, epoch)
) WITHOUT ROWID;
CREATE INDEX akd_value_states_by_version ON akd_value_states(username, version);
CREATE TABLE kt_roots (
    epoch        INTEGER PRIMARY KEY,
    root_hash    BLOB NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE TABLE kt_pending (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE REFERENCES users(username)
);
INSERT INTO kt_pending (username) SELECT username FROM users ORDER BY username;
