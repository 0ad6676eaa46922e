//! Groups and messages: creating groups, ordering commits, posting messages.

use hush_proto::InboxKind;
use sqlx::{Row as _, Sqlite, Transaction};

use crate::limits::QueueLimits;

use super::inbox::kind_str;
use super::queues::Fit;
use super::{Store, StoreError, epoch_from_db, epoch_to_db, is_unique_violation};

/// The server's routing view of a group.
pub struct GroupView {
    /// Current epoch.
    pub epoch: u64,
    /// Member device ids, sorted.
    pub devices: Vec<String>,
}

/// A commit to order and deliver; the caller has read its framing.
pub struct NewCommit<'a> {
    /// The group.
    pub group_id: &'a [u8],
    /// The committing device.
    pub sender: &'a str,
    /// The epoch the commit was made in.
    pub epoch: u64,
    /// The commit bytes.
    pub commit: &'a [u8],
    /// The Welcome for added devices.
    pub welcome: Option<&'a [u8]>,
    /// Devices the commit adds.
    pub added: &'a [String],
    /// Devices the commit removes.
    pub removed: &'a [String],
}

/// A message that was stored and put into inboxes.
#[derive(Debug)]
pub struct Delivered {
    /// The message's id.
    pub message_id: i64,
    /// The group's epoch after it.
    pub epoch: u64,
    /// Every device that got a new inbox item (to be woken up).
    pub recipients: Vec<String>,
}

impl Store {
    // ---- groups and messages ----

    /// Creates a group at epoch 0 with one member.
    pub async fn create_group(&self, group_id: &[u8], device_id: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO mls_groups (group_id, epoch, created_at) VALUES (?, 0, ?)")
            .bind(group_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("a conversation with this id exists already")
                } else {
                    StoreError::Db(e)
                }
            })?;
        sqlx::query("INSERT INTO group_members (group_id, device_id) VALUES (?, ?)")
            .bind(group_id)
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The group as `device_id` may see it: `NotMember` if it is not a member or the group
    /// does not exist (the two look the same).
    pub async fn group_for_member(&self, group_id: &[u8], device_id: &str) -> Result<GroupView, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let view = Self::group_view(&mut conn, group_id).await?;
        match view {
            Some(v) if v.devices.iter().any(|d| d == device_id) => Ok(v),
            _ => Err(StoreError::NotMember),
        }
    }

    pub(super) async fn group_view(conn: &mut sqlx::SqliteConnection, group_id: &[u8]) -> Result<Option<GroupView>, StoreError> {
        let Some(row) = sqlx::query("SELECT epoch FROM mls_groups WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let epoch = epoch_from_db(row.try_get(0)?)?;
        let devices = sqlx::query("SELECT device_id FROM group_members WHERE group_id = ? ORDER BY device_id")
            .bind(group_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok(Some(GroupView { epoch, devices }))
    }

    pub(super) async fn insert_message(
        tx: &mut Transaction<'static, Sqlite>,
        group_id: Option<&[u8]>,
        sender: Option<&str>,
        kind: InboxKind,
        payload: &[u8],
        recipients: &[String],
        now: i64,
    ) -> Result<i64, StoreError> {
        let message_id: i64 = sqlx::query(
            "INSERT INTO messages (group_id, sender_device, kind, payload, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(group_id)
        .bind(sender)
        .bind(kind_str(kind))
        .bind(payload)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
        for device_id in recipients {
            sqlx::query("INSERT INTO inbox (device_id, message_id) VALUES (?, ?)")
                .bind(device_id)
                .bind(message_id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(message_id)
    }

    /// Orders a commit: accepted only if it is for the group's current epoch (the first
    /// commit for an epoch wins). Delivers it to every member but the sender (removed ones
    /// included), the Welcome to the added devices, updates the members and moves the
    /// group to the next epoch — in one transaction.
    ///
    /// Refused when a recipient's inbox is full or the sender's quota of waiting bytes is
    /// used up (`limits`); devices the commit removes are exempt from the per-device cap, so
    /// that a device whose queue filled up can always be removed.
    pub async fn commit(&self, c: &NewCommit<'_>, limits: &QueueLimits, now: i64) -> Result<Delivered, StoreError> {
        let mut tx = self.write_tx().await?;
        let view = match Self::group_view(&mut tx, c.group_id).await? {
            Some(v) if v.devices.iter().any(|d| d == c.sender) => v,
            _ => return Err(StoreError::NotMember),
        };
        // After a restore the server's epoch may be behind the one the members reached
        // (commits taken after the backup are gone): the first commit from a member decides.
        let base_epoch = if c.epoch > view.epoch && Self::resyncing(&mut tx, c.group_id).await? { c.epoch } else { view.epoch };
        if c.epoch != base_epoch {
            // The same commit posted again (its sender never got our answer): it was taken.
            if c.epoch.checked_add(1) == Some(view.epoch) {
                let last: Option<String> = sqlx::query("SELECT last_commit FROM mls_groups WHERE group_id = ?")
                    .bind(c.group_id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                if last.as_deref() == Some(hush_core::files::sha256_hex(c.commit).as_str()) {
                    return Ok(Delivered { message_id: 0, epoch: view.epoch, recipients: Vec::new() });
                }
            }
            return Err(StoreError::StaleEpoch {
                sent: c.epoch,
                current: view.epoch,
            });
        }
        // A removed device the server no longer routes to (deleted, or never routed) is
        // fine: the list is routing only, and the MLS group may still hold its leaf.
        for added in c.added {
            if view.devices.contains(added) && !c.removed.contains(added) {
                return Err(StoreError::Invalid(format!(
                    "device {added} is already a member of this conversation"
                )));
            }
            let exists = sqlx::query("SELECT 1 FROM devices WHERE device_id = ? AND revoked_at IS NULL")
                .bind(added)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                return Err(StoreError::Invalid(format!("there is no device {added}")));
            }
        }

        // The conditional update is the ordering point: with the write lock held it can't
        // fail, but it makes "exactly one commit per epoch" hold by itself.
        let new_epoch = base_epoch
            .checked_add(1)
            .ok_or_else(|| StoreError::Invalid("the conversation is at its last epoch".into()))?;
        let moved = sqlx::query("UPDATE mls_groups SET epoch = ?, last_commit = ?, resync = 0 WHERE group_id = ? AND epoch = ?")
            .bind(epoch_to_db(new_epoch)?)
            .bind(hush_core::files::sha256_hex(c.commit))
            .bind(c.group_id)
            .bind(epoch_to_db(view.epoch)?)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::StaleEpoch {
                sent: c.epoch,
                current: new_epoch,
            });
        }

        let mut recipients: Vec<String> = view.devices.iter().filter(|d| *d != c.sender).cloned().collect();
        let commit_len = len_u64(c.commit);
        let welcome_len = c.welcome.map_or(0, len_u64);
        let mut fit = Fit { sender: c.sender, stored: commit_len.saturating_add(welcome_len), recipients: Vec::new() };
        for d in recipients.iter().filter(|d| !c.removed.contains(d)) {
            fit.recipients.push((d.as_str(), commit_len));
        }
        for d in c.added {
            fit.recipients.push((d.as_str(), welcome_len));
        }
        Self::check_queues(&mut tx, &fit, limits).await?;
        let message_id = Self::insert_message(
            &mut tx,
            Some(c.group_id),
            Some(c.sender),
            InboxKind::Message,
            c.commit,
            &recipients,
            now,
        )
        .await?;
        if let Some(welcome) = c.welcome {
            Self::insert_message(
                &mut tx,
                Some(c.group_id),
                Some(c.sender),
                InboxKind::Welcome,
                welcome,
                c.added,
                now,
            )
            .await?;
        }
        for removed in c.removed {
            sqlx::query("DELETE FROM group_members WHERE group_id = ? AND device_id = ?")
                .bind(c.group_id)
                .bind(removed)
                .execute(&mut *tx)
                .await?;
        }
        for added in c.added {
            sqlx::query("INSERT INTO group_members (group_id, device_id) VALUES (?, ?)")
                .bind(c.group_id)
                .bind(added)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        for added in c.added {
            if !recipients.contains(added) {
                recipients.push(added.clone());
            }
        }
        Ok(Delivered {
            message_id,
            epoch: new_epoch,
            recipients,
        })
    }

    /// Stores an application message or proposal made in the group's current epoch and
    /// delivers it to every member but the sender; refused, with nothing stored, when a
    /// recipient's inbox is full or the sender's quota of waiting bytes is used up.
    pub async fn post_message(
        &self,
        group_id: &[u8],
        sender: &str,
        epoch: u64,
        message: &[u8],
        limits: &QueueLimits,
        now: i64,
    ) -> Result<Delivered, StoreError> {
        let mut tx = self.write_tx().await?;
        let view = match Self::group_view(&mut tx, group_id).await? {
            Some(v) if v.devices.iter().any(|d| d == sender) => v,
            _ => return Err(StoreError::NotMember),
        };
        if epoch > view.epoch && Self::resyncing(&mut tx, group_id).await? {
            // Restored from a backup: the members are further on than the server's copy.
            sqlx::query("UPDATE mls_groups SET epoch = ? WHERE group_id = ?")
                .bind(epoch_to_db(epoch)?)
                .bind(group_id)
                .execute(&mut *tx)
                .await?;
        } else if epoch != view.epoch {
            return Err(StoreError::StaleEpoch {
                sent: epoch,
                current: view.epoch,
            });
        }
        let recipients: Vec<String> = view.devices.into_iter().filter(|d| d != sender).collect();
        let fit = Fit {
            sender,
            stored: len_u64(message),
            recipients: recipients.iter().map(|d| (d.as_str(), len_u64(message))).collect(),
        };
        Self::check_queues(&mut tx, &fit, limits).await?;
        let message_id = Self::insert_message(
            &mut tx,
            Some(group_id),
            Some(sender),
            InboxKind::Message,
            message,
            &recipients,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Delivered {
            message_id,
            epoch,
            recipients,
        })
    }
}

/// A payload's length in bytes.
fn len_u64(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}
