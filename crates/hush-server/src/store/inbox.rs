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

pub(super) fn kind_from_str(s: &str) -> Result<InboxKind, StoreError> {
    match s {
        "message" => Ok(InboxKind::Message),
        "welcome" => Ok(InboxKind::Welcome),
        "device_added" => Ok(InboxKind::DeviceAdded),
        "device_revoked" => Ok(InboxKind::DeviceRevoked),
        other => Err(StoreError::Db(sqlx::Error::Decode(
            format!("unknown message kind {other:?} in the database").into(),
        ))),
    }
}

impl Store {
    // ---- inbox ----

    /// A device's inbox items with an id above `after`, oldest first.
    pub async fn inbox(&self, device_id: &str, after: i64, limit: u32) -> Result<Vec<InboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, m.kind, m.group_id, m.sender_device, m.payload, m.created_at
             FROM inbox i JOIN messages m ON m.id = i.message_id
             WHERE i.device_id = ? AND i.id > ?
             ORDER BY i.id ASC LIMIT ?",
        )
        .bind(device_id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                Ok(InboxRow {
                    id: r.try_get(0)?,
                    kind: kind_from_str(&kind)?,
                    group_id: r.try_get(2)?,
                    sender_device: r.try_get(3)?,
                    payload: r.try_get(4)?,
                    received_at: r.try_get(5)?,
                })
            })
            .collect()
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
