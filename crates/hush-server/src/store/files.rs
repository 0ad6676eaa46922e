//! The SQL of files: resumable uploads, finished blobs, and spaces (a signed state with
//! rows that refer to blobs). The bytes of uploads and blobs live outside the database
//! (see `crate::files`); these tables hold who owns what, how far an upload got, which
//! rows refer to which blobs, and each space's version for compare-and-swap writes.

use std::collections::BTreeSet;

use sqlx::{Row as _, SqliteConnection};

use super::{Store, StoreError};
use crate::limits::GROUP_ID_LEN;

/// A space's name, parsed: `drive:USERNAME` or `conv:GROUP_ID_HEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpaceName {
    /// A user's personal drive, open to that user's devices.
    Drive(String),
    /// A conversation's shared space, open to the devices that are members of the group.
    Conv(Vec<u8>),
}

impl SpaceName {
    /// Parses a space name. The group id must be lowercase hex and the username valid, so
    /// that every space has exactly one name. `None` for anything else.
    pub fn parse(name: &str) -> Option<SpaceName> {
        if let Some(username) = name.strip_prefix("drive:") {
            hush_core::username::validate(username).ok()?;
            Some(SpaceName::Drive(username.to_owned()))
        } else if let Some(hex_id) = name.strip_prefix("conv:") {
            if hex_id.len() != GROUP_ID_LEN * 2 || !is_lower_hex(hex_id) {
                return None;
            }
            hex::decode(hex_id).ok().map(SpaceName::Conv)
        } else {
            None
        }
    }
}

/// Whether `s` is made of lowercase hex digits only.
pub(crate) fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new upload, already validated.
#[derive(Debug, Clone, Copy)]
pub struct NewUpload<'a> {
    /// Its random id (the blob's id once complete).
    pub upload_id: &'a str,
    /// The user who starts it.
    pub username: &'a str,
    /// The device that starts it.
    pub device_id: &'a str,
    /// The space the blob is meant for (access checked by the caller).
    pub space: &'a str,
    /// The blob's exact size.
    pub size: u64,
}

/// An unfinished upload.
#[derive(Debug, Clone)]
pub struct UploadRow {
    /// Its id.
    pub upload_id: String,
    /// The user who started it.
    pub username: String,
    /// The declared size.
    pub size: u64,
    /// Bytes stored so far.
    pub received: u64,
}

/// A finished blob.
#[derive(Debug, Clone)]
pub struct BlobRow {
    /// Its id.
    pub blob_id: String,
    /// The user whose quota it counts against.
    pub owner: String,
    /// Its size.
    pub size: u64,
}

/// A space as stored: version 0, no state and no rows if nothing was written.
#[derive(Debug, Clone, Default)]
pub struct StoredSpace {
    /// The state's version.
    pub version: u64,
    /// The signed state.
    pub state: Option<Vec<u8>>,
    /// Every row as `(entry_id, blob ids in id order, row)`, in entry id order.
    pub rows: Vec<(String, Vec<String>, Vec<u8>)>,
}

/// A change to a space, already validated (entry and blob ids well formed, no entry twice).
#[derive(Debug, Clone, Copy)]
pub struct SpaceChange<'a> {
    /// The version the change was made against.
    pub expected_version: u64,
    /// The new signed state.
    pub state: &'a [u8],
    /// Rows to add or replace.
    pub put: &'a [hush_proto::SpaceRow],
    /// Entry ids of rows to delete (unknown ones are ignored).
    pub delete: &'a [String],
}

/// A space change that was stored.
#[derive(Debug, Clone)]
pub struct SpaceUpdated {
    /// The space's new version.
    pub version: u64,
    /// Blobs no row refers to any more whose rows were deleted: their bytes are to be
    /// deleted from the object store (after the commit).
    pub freed: Vec<String>,
}

fn to_db(what: &str, n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{what} {n} is out of range")))
}

fn from_db(what: &str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Db(sqlx::Error::Decode(format!("negative {what} in the database").into())))
}

/// The one answer for a row referring to a blob the writer can't read (or that does not
/// exist: the two look the same).
fn unreadable_blob(blob_id: &str) -> StoreError {
    StoreError::Denied(format!(
        "a row refers to file {blob_id}, which does not exist, or which you didn't upload and this space doesn't hold yet; upload it first"
    ))
}

impl Store {
    /// Whether `device_id` of `username` may use `space`: its user's own drive, or a
    /// conversation it is currently a member of.
    async fn may_access(
        conn: &mut SqliteConnection,
        space: &SpaceName,
        username: &str,
        device_id: &str,
    ) -> Result<bool, StoreError> {
        match space {
            SpaceName::Drive(owner) => Ok(owner == username),
            SpaceName::Conv(group_id) => Ok(sqlx::query(
                "SELECT 1 FROM group_members WHERE group_id = ? AND device_id = ?",
            )
            .bind(group_id.as_slice())
            .bind(device_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some()),
        }
    }

    /// Whether `device_id` of `username` may use `space` (see [`SpaceName`]).
    pub async fn space_accessible(&self, space: &SpaceName, username: &str, device_id: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::may_access(&mut conn, space, username, device_id).await
    }

    /// Bytes held for a user: their blobs plus their unfinished uploads.
    async fn used_bytes(conn: &mut SqliteConnection, username: &str) -> Result<u64, StoreError> {
        let used: i64 = sqlx::query(
            "SELECT (SELECT COALESCE(SUM(size), 0) FROM blobs WHERE owner = ?1)
                  + (SELECT COALESCE(SUM(size), 0) FROM uploads WHERE username = ?1)",
        )
        .bind(username)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        from_db("storage total", used)
    }

    /// Bytes held for a user: their blobs plus their unfinished uploads.
    pub async fn quota_used(&self, username: &str) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::used_bytes(&mut conn, username).await
    }

    /// Starts an upload, if its user has fewer than `max_pending` unfinished ones (`TooMany`)
    /// and it fits in their `quota` (`Quota`); both checked in the writing transaction.
    pub async fn create_upload(&self, upload: &NewUpload<'_>, quota: u64, max_pending: i64, now: i64) -> Result<(), StoreError> {
        let size = to_db("size", upload.size)?;
        let mut tx = self.write_tx().await?;
        let pending: i64 = sqlx::query("SELECT COUNT(*) FROM uploads WHERE username = ?")
            .bind(upload.username)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if pending >= max_pending {
            return Err(StoreError::TooMany(
                "too many unfinished uploads; finish some, or wait a week for the server to forget them",
                60 * 60,
            ));
        }
        let used = Self::used_bytes(&mut tx, upload.username).await?;
        if used.saturating_add(upload.size) > quota {
            return Err(StoreError::Quota {
                needed: upload.size,
                used,
                quota,
            });
        }
        sqlx::query(
            "INSERT INTO uploads (upload_id, username, device_id, space, size, received, created_at)
             VALUES (?, ?, ?, ?, ?, 0, ?)",
        )
        .bind(upload.upload_id)
        .bind(upload.username)
        .bind(upload.device_id)
        .bind(upload.space)
        .bind(size)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if super::is_unique_violation(&e) {
                StoreError::Conflict("an upload with this id exists already")
            } else {
                StoreError::Db(e)
            }
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// An unfinished upload.
    pub async fn upload(&self, upload_id: &str) -> Result<Option<UploadRow>, StoreError> {
        let row = sqlx::query("SELECT username, size, received FROM uploads WHERE upload_id = ?")
            .bind(upload_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(UploadRow {
            upload_id: upload_id.to_owned(),
            username: row.try_get(0)?,
            size: from_db("size", row.try_get(1)?)?,
            received: from_db("received", row.try_get(2)?)?,
        }))
    }

    /// Records that an upload's first `received` bytes are on disk.
    pub async fn set_received(&self, upload_id: &str, received: u64) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE uploads SET received = ? WHERE upload_id = ?")
            .bind(to_db("received", received)?)
            .bind(upload_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound("no such upload"));
        }
        Ok(())
    }

    /// Turns a complete upload of `username` into a blob they own, not yet referred to by
    /// any row, in one transaction.
    pub async fn finish_upload(&self, upload_id: &str, username: &str, now: i64) -> Result<BlobRow, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "DELETE FROM uploads WHERE upload_id = ? AND username = ? AND received = size RETURNING size",
        )
        .bind(upload_id)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound("no such complete upload"));
        };
        let size: i64 = row.try_get(0)?;
        sqlx::query("INSERT INTO blobs (blob_id, owner, size, created_at, linked) VALUES (?, ?, ?, ?, 0)")
            .bind(upload_id)
            .bind(username)
            .bind(size)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(BlobRow {
            blob_id: upload_id.to_owned(),
            owner: username.to_owned(),
            size: from_db("size", size)?,
        })
    }

    /// A blob.
    pub async fn blob(&self, blob_id: &str) -> Result<Option<BlobRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::blob_row(&mut conn, blob_id).await
    }

    async fn blob_row(conn: &mut SqliteConnection, blob_id: &str) -> Result<Option<BlobRow>, StoreError> {
        let row = sqlx::query("SELECT owner, size FROM blobs WHERE blob_id = ?")
            .bind(blob_id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(BlobRow {
            blob_id: blob_id.to_owned(),
            owner: row.try_get(0)?,
            size: from_db("size", row.try_get(1)?)?,
        }))
    }

    /// Whether `device_id` of `username` may read the blob: its owner, or a member of a
    /// space with a row that refers to it. `None` if it may not or the blob does not exist.
    async fn readable(
        conn: &mut SqliteConnection,
        blob_id: &str,
        username: &str,
        device_id: &str,
    ) -> Result<Option<BlobRow>, StoreError> {
        let Some(blob) = Self::blob_row(conn, blob_id).await? else {
            return Ok(None);
        };
        if blob.owner == username {
            return Ok(Some(blob));
        }
        let spaces: Vec<String> = sqlx::query("SELECT DISTINCT space FROM space_row_blobs WHERE blob_id = ?")
            .bind(blob_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        for space in spaces {
            let Some(name) = SpaceName::parse(&space) else {
                continue;
            };
            if Self::may_access(conn, &name, username, device_id).await? {
                return Ok(Some(blob));
            }
        }
        Ok(None)
    }

    /// The blob, if `device_id` of `username` may read it (see [`Store::readable`]).
    pub async fn readable_blob(&self, blob_id: &str, username: &str, device_id: &str) -> Result<Option<BlobRow>, StoreError> {
        // One read transaction: the blob and the rows referring to it as of one instant.
        let mut tx = self.pool.begin().await?;
        let blob = Self::readable(&mut tx, blob_id, username, device_id).await?;
        tx.commit().await?;
        Ok(blob)
    }

    /// A space's state and rows.
    pub async fn space(&self, space: &str) -> Result<StoredSpace, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(state) = sqlx::query("SELECT version, state FROM space_states WHERE space = ?")
            .bind(space)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(StoredSpace::default());
        };
        let version = from_db("space version", state.try_get(0)?)?;
        let state: Vec<u8> = state.try_get(1)?;
        let mut rows: Vec<(String, Vec<String>, Vec<u8>)> = Vec::new();
        for r in sqlx::query("SELECT entry_id, row FROM space_rows WHERE space = ? ORDER BY entry_id")
            .bind(space)
            .fetch_all(&mut *tx)
            .await?
        {
            rows.push((r.try_get(0)?, Vec::new(), r.try_get(1)?));
        }
        let refs = sqlx::query("SELECT entry_id, blob_id FROM space_row_blobs WHERE space = ? ORDER BY entry_id, blob_id")
            .bind(space)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        for r in refs {
            let entry_id: String = r.try_get(0)?;
            let blob_id: String = r.try_get(1)?;
            if let Ok(i) = rows.binary_search_by(|(e, _, _)| e.as_str().cmp(entry_id.as_str())) {
                rows[i].1.push(blob_id);
            }
        }
        Ok(StoredSpace {
            version,
            state: Some(state),
            rows,
        })
    }

    /// A space's signed states after version `after`, oldest first, at most `limit`.
    pub async fn space_states_after(&self, space: &str, after: u64, limit: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let after = to_db("after", after)?;
        let limit = to_db("limit", limit)?;
        Ok(sqlx::query("SELECT state FROM space_state_history WHERE space = ? AND version > ? ORDER BY version LIMIT ?")
            .bind(space)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// The blob ids a row refers to, which are removed from it.
    async fn drop_row_refs(conn: &mut SqliteConnection, space: &str, entry_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query("DELETE FROM space_row_blobs WHERE space = ? AND entry_id = ? RETURNING blob_id")
            .bind(space)
            .bind(entry_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// Changes a space in one transaction, if its version is still `expected_version`
    /// (`Conflict` otherwise): every blob a put row refers to must exist and be readable by
    /// the writer (`Denied`); rows are replaced or deleted, the state and version set, the
    /// referenced blobs marked linked, and linked blobs no row refers to any more are
    /// deleted (their ids are answered, for the object store).
    pub async fn update_space(
        &self,
        space: &str,
        change: &SpaceChange<'_>,
        username: &str,
        _device_id: &str,
        now: i64,
    ) -> Result<SpaceUpdated, StoreError> {
        let expected = to_db("expected_version", change.expected_version)?;
        let version = change
            .expected_version
            .checked_add(1)
            .ok_or_else(|| StoreError::Invalid("the space's version is out of range".into()))?;
        let new_version = to_db("version", version)?;
        let mut tx = self.write_tx().await?;
        let current: i64 = sqlx::query("SELECT version FROM space_states WHERE space = ?")
            .bind(space)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0);
        if current != expected {
            return Err(StoreError::Conflict("the space changed since you read it; read it again"));
        }
        let referenced: BTreeSet<&str> = change.put.iter().flat_map(|r| r.blobs.iter().map(String::as_str)).collect();
        // A row may refer to a blob the writer uploaded, or to one this space already refers
        // to (moving, resealing, keeping versions). Not to a blob of another space it merely
        // can read: otherwise a member could keep a conversation's files reachable from
        // their own drive after being removed (and on the uploader's quota forever).
        for blob_id in &referenced {
            let Some(blob) = Self::blob_row(&mut tx, blob_id).await? else {
                return Err(unreadable_blob(blob_id));
            };
            let in_this_space = sqlx::query("SELECT 1 FROM space_row_blobs WHERE space = ? AND blob_id = ? LIMIT 1")
                .bind(space)
                .bind(*blob_id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if blob.owner != username && !in_this_space {
                return Err(unreadable_blob(blob_id));
            }
        }
        let mut candidates: BTreeSet<String> = BTreeSet::new();
        for row in change.put {
            candidates.extend(Self::drop_row_refs(&mut tx, space, &row.entry_id).await?);
            sqlx::query(
                "INSERT INTO space_rows (space, entry_id, row) VALUES (?, ?, ?)
                 ON CONFLICT (space, entry_id) DO UPDATE SET row = excluded.row",
            )
            .bind(space)
            .bind(&row.entry_id)
            .bind(row.row.0.as_slice())
            .execute(&mut *tx)
            .await?;
            for blob_id in &row.blobs {
                sqlx::query("INSERT OR IGNORE INTO space_row_blobs (space, entry_id, blob_id) VALUES (?, ?, ?)")
                    .bind(space)
                    .bind(&row.entry_id)
                    .bind(blob_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for entry_id in change.delete {
            candidates.extend(Self::drop_row_refs(&mut tx, space, entry_id).await?);
            sqlx::query("DELETE FROM space_rows WHERE space = ? AND entry_id = ?")
                .bind(space)
                .bind(entry_id)
                .execute(&mut *tx)
                .await?;
        }
        for blob_id in &referenced {
            sqlx::query("UPDATE blobs SET linked = 1 WHERE blob_id = ?")
                .bind(blob_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO space_states (space, version, state, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (space) DO UPDATE SET
                 version = excluded.version, state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(space)
        .bind(new_version)
        .bind(change.state)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO space_state_history (space, version, state) VALUES (?, ?, ?)")
            .bind(space)
            .bind(new_version)
            .bind(change.state)
            .execute(&mut *tx)
            .await?;
        let mut freed = Vec::new();
        for blob_id in candidates {
            let gone = sqlx::query(
                "DELETE FROM blobs WHERE blob_id = ?1 AND linked = 1
                 AND NOT EXISTS (SELECT 1 FROM space_row_blobs WHERE blob_id = ?1)",
            )
            .bind(&blob_id)
            .execute(&mut *tx)
            .await?;
            if gone.rows_affected() == 1 {
                freed.push(blob_id);
            }
        }
        tx.commit().await?;
        Ok(SpaceUpdated { version, freed })
    }

    /// Ids of unfinished uploads started before `before`.
    pub async fn stale_uploads(&self, before: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query("SELECT upload_id FROM uploads WHERE created_at < ? ORDER BY created_at")
            .bind(before)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// Forgets an unfinished upload if it was started before `before`; whether it did.
    pub async fn forget_upload(&self, upload_id: &str, before: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM uploads WHERE upload_id = ? AND created_at < ?")
            .bind(upload_id)
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the blobs finished before `before` that no row ever referred to; their ids.
    pub async fn forget_unlinked_blobs(&self, before: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query("DELETE FROM blobs WHERE linked = 0 AND created_at < ? RETURNING blob_id")
            .bind(before)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }
}
