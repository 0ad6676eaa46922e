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

    /// A device's inbox items with an id above `after` that arrived at or after `since`
    /// (older ones have outlived the time to live), oldest first: at most `limit` of them,
    /// and no more payload bytes than `max_bytes` unless the first item alone is larger;
    /// and how many rows of an unknown kind were skipped on the way.
    ///
    /// A row of a kind this server does not know is skipped and logged, never handed out
    /// (and it never stops the items after it); the sweep deletes it when it expires.
    pub async fn inbox(&self, device_id: &str, after: i64, since: i64, limit: u32, max_bytes: usize) -> Result<(Vec<InboxRow>, usize), StoreError> {
        // First the sizes only, so that a page never loads more payload than it sends.
        let mut wanted: Vec<i64> = Vec::new();
        let mut skipped = 0_usize;
        let mut bytes = 0_usize;
        let mut cursor = after;
        'pages: loop {
            let heads = sqlx::query(
                "SELECT i.id, m.kind, length(m.payload)
                 FROM inbox i JOIN messages m ON m.id = i.message_id
                 WHERE i.device_id = ? AND i.id > ? AND m.created_at >= ?
                 ORDER BY i.id ASC LIMIT ?",
            )
            .bind(device_id)
            .bind(cursor)
            .bind(since)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            for h in &heads {
                let id: i64 = h.try_get(0)?;
                cursor = id;
                let kind: String = h.try_get(1)?;
                let len = usize::try_from(h.try_get::<i64, _>(2)?).unwrap_or(usize::MAX);
                if kind_from_str(&kind).is_none() {
                    let shown: String = kind.chars().take(64).collect();
                    tracing::warn!(inbox_id = id, device = %device_id, kind = ?shown, "skipped an inbox row of an unknown kind");
                    skipped += 1;
                    continue;
                }
                if wanted.len() >= usize::try_from(limit).unwrap_or(usize::MAX)
                    || (!wanted.is_empty() && bytes.saturating_add(len) > max_bytes)
                {
                    break 'pages;
                }
                bytes = bytes.saturating_add(len);
                wanted.push(id);
            }
            // A short read is the end; a full one of skipped rows only reads on.
            if !wanted.is_empty() || heads.len() < usize::try_from(limit).unwrap_or(usize::MAX) {
                break;
            }
        }
        let Some(&last) = wanted.last() else { return Ok((Vec::new(), skipped)) };
        // The same rows (ids only grow, so none came in between), payloads now.
        let rows = sqlx::query(
            "SELECT i.id, m.kind, m.group_id, m.sender_device, m.payload, m.created_at
             FROM inbox i JOIN messages m ON m.id = i.message_id
             WHERE i.device_id = ? AND i.id > ? AND i.id <= ? AND m.created_at >= ?
             ORDER BY i.id ASC",
        )
        .bind(device_id)
        .bind(after)
        .bind(last)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let kind: String = r.try_get(1)?;
            let Some(kind) = kind_from_str(&kind) else { continue };
            items.push(InboxRow {
                id: r.try_get(0)?,
                kind,
                group_id: r.try_get(2)?,
                sender_device: r.try_get(3)?,
                payload: r.try_get(4)?,
                received_at: r.try_get(5)?,
            });
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
