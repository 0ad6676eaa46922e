-- The key directory also commits to account backups (`backup:USER`,
-- `guardian-backup:USER`), which are not usernames: kt_pending names any directory entry.
CREATE TABLE kt_pending_new (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE
);
INSERT INTO kt_pending_new (id, username) SELECT id, username FROM kt_pending;
DROP TABLE kt_pending;
ALTER TABLE kt_pending_new RENAME TO kt_pending;
