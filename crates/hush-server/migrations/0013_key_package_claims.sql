-- When a device's last-resort KeyPackage was last handed out (NULL: not since it was
-- uploaded). The device is told, and uploads a new one, which replaces the row.
ALTER TABLE key_packages ADD COLUMN claimed_at INTEGER;
