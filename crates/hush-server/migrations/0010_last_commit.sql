-- The SHA-256 of the commit that moved each group to its current epoch, so that a committer
-- whose answer was lost can post the same commit again and be told it was taken.
ALTER TABLE mls_groups ADD COLUMN last_commit TEXT;
