-- Every restore of this server from a backup (see backup.rs), listed to clients by
-- GET /v1/kt/info so that they follow the directory back to the backup's epoch.
CREATE TABLE restores (
    generation      INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch           INTEGER NOT NULL,
    backup_taken_at INTEGER NOT NULL,
    restored_at     INTEGER NOT NULL
);
-- 1 for a conversation whose epoch the server lost in a restore: the next commit is taken
-- at whatever epoch its members reached, and sets it back to 0.
ALTER TABLE mls_groups ADD COLUMN resync INTEGER NOT NULL DEFAULT 0;
