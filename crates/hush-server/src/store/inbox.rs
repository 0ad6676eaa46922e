//! Inboxes: reading and acknowledging delivered items.

use hush_proto::InboxKind;
use sqlx::Row as _;

use super::{Store, StoreError};

/// One inbox item joined with its message.
pub struct InboxRow {
    /// Inbox id.
    pub id: i64,
    /// What it is.
    pub kind: InboxKind,
    /// The group, if any.
    pub group_id: Option<Vec<u8>>,
    /// Sending device, if any.
    pub sender_device: Option<String>,
    /// Payload.
    pub payload: Vec<u8>,
    /// When the server stored the message, unix ms.
    pub received_at: i64,
}

pub(super) fn kind_str(kind: InboxKind) -> &'static str {
    match kind {
        InboxKind::Message => "message",
        InboxKind::Welcome => "welcome",
        InboxKind::DeviceAdded => "device_added",
        InboxKind::DeviceRevoked => "device_revoked",
    }
}

/// The kind a stored row names; `None` for a kind this server does not know (written by a
/// newer version, or by hand).
pub(super) fn kind_from_str(s: &str) -> Option<InboxKind> {
    match s {
        "message" => Some(InboxKind::Message),
        "welcome" => Some(InboxKind::Welcome),
        "device_added" => Some(InboxKind::DeviceAdded),
        "device_revoked" => Some(InboxKind::DeviceRevoked),
        _ => None,
    }
}

impl Store {
    // ---- inbox ----

    /// Up to `limit` of a device's inbox items with an id above `after`, oldest first, and
    /// how many rows of an unknown kind were skipped on the way (each logged): such a row
    /// is left in place, never handed out, and never stops the items after it.
    pub async fn inbox(&self, device_id: &str, after: i64, limit: u32) -> Result<(Vec<InboxRow>, usize), StoreError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut skipped = 0;
        let mut cursor = after;
        while items.len() < limit {
            let asked = limit - items.len();
            let rows = sqlx::query(
                "SELECT i.id, m.kind, m.group_id, m.sender_device, m.payload, m.created_at
                 FROM inbox i JOIN messages m ON m.id = i.message_id
                 WHERE i.device_id = ? AND i.id > ?
                 ORDER BY i.id ASC LIMIT ?",
            )
            .bind(device_id)
            .bind(cursor)
            .bind(i64::try_from(asked).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
            let fetched = rows.len();
            for r in &rows {
                let id: i64 = r.try_get(0)?;
                cursor = id;
                let kind: String = r.try_get(1)?;
                let Some(kind) = kind_from_str(&kind) else {
                    tracing::warn!(inbox_id = id, device = %device_id, kind = %crate::limits::shown(&kind), "skipped an inbox row of an unknown kind");
                    skipped += 1;
                    continue;
                };
                items.push(InboxRow {
                    id,
                    kind,
                    group_id: r.try_get(2)?,
                    sender_device: r.try_get(3)?,
                    payload: r.try_get(4)?,
                    received_at: r.try_get(5)?,
                });
            }
            // A short page is the end; a full one with skipped rows leaves room to fill.
            if fetched < asked {
                break;
            }
        }
        Ok((items, skipped))
    }

    /// Deletes these inbox items of this device (others' are untouched), and every message
    /// no inbox refers to any more. Unknown ids are ignored.
    pub async fn ack(&self, device_id: &str, ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for id in ids {
            let deleted = sqlx::query("DELETE FROM inbox WHERE id = ? AND device_id = ? RETURNING message_id")
                .bind(id)
                .bind(device_id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = deleted {
                let message_id: i64 = row.try_get(0)?;
                sqlx::query(
                    "DELETE FROM messages WHERE id = ?1
                     AND NOT EXISTS (SELECT 1 FROM inbox WHERE message_id = ?1)",
                )
                .bind(message_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
