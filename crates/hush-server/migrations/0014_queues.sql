-- Queue limits (see limits.rs, QueueLimits): what each device's inbox holds and what each
-- sending device has waiting, kept up to date by triggers so that every path that adds or
-- deletes inbox rows and messages (post, commit, ack, revoke, delete-user, the sweep)
-- keeps them right without knowing of them.
CREATE TABLE inbox_usage (
    device_id TEXT PRIMARY KEY,
    items     INTEGER NOT NULL,
    bytes     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE sender_usage (
    device_id TEXT PRIMARY KEY,
    messages  INTEGER NOT NULL,
    bytes     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO inbox_usage (device_id, items, bytes)
    SELECT i.device_id, COUNT(*), COALESCE(SUM(length(m.payload)), 0)
    FROM inbox i JOIN messages m ON m.id = i.message_id GROUP BY i.device_id;
INSERT INTO sender_usage (device_id, messages, bytes)
    SELECT sender_device, COUNT(*), COALESCE(SUM(length(payload)), 0)
    FROM messages WHERE sender_device IS NOT NULL GROUP BY sender_device;
CREATE TRIGGER inbox_usage_insert AFTER INSERT ON inbox BEGIN
    INSERT INTO inbox_usage (device_id, items, bytes)
        VALUES (NEW.device_id, 1, COALESCE((SELECT length(payload) FROM messages WHERE id = NEW.message_id), 0))
        ON CONFLICT (device_id) DO UPDATE SET items = items + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER inbox_usage_delete AFTER DELETE ON inbox BEGIN
    UPDATE inbox_usage
        SET items = items - 1,
            bytes = bytes - COALESCE((SELECT length(payload) FROM messages WHERE id = OLD.message_id), 0)
        WHERE device_id = OLD.device_id;
    DELETE FROM inbox_usage WHERE device_id = OLD.device_id AND items <= 0;
END;
CREATE TRIGGER sender_usage_insert AFTER INSERT ON messages WHEN NEW.sender_device IS NOT NULL BEGIN
    INSERT INTO sender_usage (device_id, messages, bytes)
        VALUES (NEW.sender_device, 1, length(NEW.payload))
        ON CONFLICT (device_id) DO UPDATE SET messages = messages + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER sender_usage_delete AFTER DELETE ON messages WHEN OLD.sender_device IS NOT NULL BEGIN
    UPDATE sender_usage
        SET messages = messages - 1, bytes = bytes - length(OLD.payload)
        WHERE device_id = OLD.sender_device;
    DELETE FROM sender_usage WHERE device_id = OLD.sender_device AND messages <= 0;
END;
-- The sweep deletes messages older than the time to live, oldest first.
CREATE INDEX messages_by_age ON messages(created_at);
