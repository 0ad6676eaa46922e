//! Device linking (relay only: the server sees opaque SPAKE2 messages and MACs).

use sqlx::{Row as _, Sqlite, Transaction};

use super::{Store, StoreError};

/// A new device-link request, already validated.
#[derive(Debug, Clone, Copy)]
pub struct NewLink<'a> {
    /// Random id (the capability to follow the request).
    pub link_id: &'a str,
    /// The account.
    pub username: &'a str,
    /// The public half of the code.
    pub selector: &'a str,
    /// The new device's SPAKE2 message.
    pub pake: &'a [u8],
    /// When it expires, unix ms.
    pub expires_at: i64,
}

/// A device-link request waiting for an answer.
#[derive(Debug, Clone)]
pub struct LinkRow {
    /// Its id.
    pub link_id: String,
    /// The public half of the code.
    pub selector: String,
    /// The new device's SPAKE2 message.
    pub pake: Vec<u8>,
    /// When it was made.
    pub created_at: i64,
}

/// Everything posted so far for an unexpired device-link request.
#[derive(Debug, Clone)]
pub struct LinkState {
    /// The existing device's SPAKE2 message and key confirmation, once answered.
    pub answer: Option<(Vec<u8>, Vec<u8>)>,
    /// The new device's signing key and its MAC, once posted.
    pub device: Option<(Vec<u8>, Vec<u8>)>,
    /// The sealed account bundle, once approved.
    pub sealed: Option<Vec<u8>>,
    /// Whether either side gave up on it.
    pub failed: bool,
}

/// The steps of a link request taken so far, read inside a write transaction.
pub(super) struct LinkProgress {
    username: String,
    answered: bool,
    has_device: bool,
    sealed: bool,
    failed: bool,
}

/// The one answer for a link request that does not exist, expired, or belongs to another
/// account (the three look the same to the caller).
pub(super) const NO_SUCH_LINK: &str = "no such link request, or it expired";

/// A link request either side gave up on.
pub(super) const LINK_FAILED: &str = "this link request failed; start again on the new device";

impl Store {
    // ---- device linking (relay only: the server sees opaque SPAKE2 messages and MACs) ----

    /// Records a link request for an existing user (`NotFound` otherwise), after deleting
    /// expired ones. At most `max_pending` unexpired, unfinished (not failed, not sealed)
    /// requests per user (`TooMany`); the selector must not be used by another unexpired
    /// request of the user (`Conflict`).
    pub async fn create_link(&self, link: &NewLink<'_>, now: i64, max_pending: i64) -> Result<(), StoreError> {
        let NewLink { link_id, username, selector, pake, expires_at } = *link;
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM link_requests WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound("there is no such user"));
        }
        let pending: i64 = sqlx::query(
            "SELECT COUNT(*) FROM link_requests \
             WHERE username = ? AND expires_at > ? AND failed = 0 AND sealed IS NULL",
        )
        .bind(username)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if pending >= max_pending {
            return Err(StoreError::TooMany(
                "too many devices are waiting to be linked to this account; try again in 10 minutes",
                10 * 60,
            ));
        }
        let taken = sqlx::query("SELECT 1 FROM link_requests WHERE username = ? AND selector = ? AND expires_at > ?")
            .bind(username)
            .bind(selector)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Err(StoreError::Conflict(
                "another link request of this account uses this code; make a new code",
            ));
        }
        sqlx::query(
            "INSERT INTO link_requests (link_id, username, selector, pake, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(link_id)
        .bind(username)
        .bind(selector)
        .bind(pake)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unexpired link requests of a user that were neither answered nor failed, oldest first.
    pub async fn pending_links(&self, username: &str, now: i64) -> Result<Vec<LinkRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT link_id, selector, pake, created_at FROM link_requests \
             WHERE username = ? AND expires_at > ? AND answer_pake IS NULL AND failed = 0 \
             ORDER BY created_at, link_id",
        )
        .bind(username)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(LinkRow {
                    link_id: r.try_get(0)?,
                    selector: r.try_get(1)?,
                    pake: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The progress of an unexpired link request, inside a write transaction.
    pub(super) async fn link_progress(
        tx: &mut Transaction<'static, Sqlite>,
        link_id: &str,
        now: i64,
    ) -> Result<Option<LinkProgress>, StoreError> {
        let row = sqlx::query(
            "SELECT username, answer_pake IS NOT NULL, device_key IS NOT NULL, sealed IS NOT NULL, failed \
             FROM link_requests WHERE link_id = ? AND expires_at > ?",
        )
        .bind(link_id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(LinkProgress {
            username: r.try_get(0)?,
            answered: r.try_get::<i64, _>(1)? != 0,
            has_device: r.try_get::<i64, _>(2)? != 0,
            sealed: r.try_get::<i64, _>(3)? != 0,
            failed: r.try_get::<i64, _>(4)? != 0,
        }))
    }

    /// Stores the answer of a device of `username` to that user's unexpired link request:
    /// `NotFound` if there is none, `Conflict` if it was answered already or failed. One
    /// answer per request: a wrong code costs the new device its request.
    pub async fn answer_link(
        &self,
        link_id: &str,
        username: &str,
        pake: &[u8],
        confirm: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let progress = Self::link_progress(&mut tx, link_id, now).await?;
        let Some(p) = progress.filter(|p| p.username == username) else {
            return Err(StoreError::NotFound(NO_SUCH_LINK));
        };
        if p.failed {
            return Err(StoreError::Conflict(LINK_FAILED));
        }
        if p.answered {
            return Err(StoreError::Conflict(
                "this link request was already answered; start again on the new device",
            ));
        }
        sqlx::query("UPDATE link_requests SET answer_pake = ?, answer_confirm = ? WHERE link_id = ?")
            .bind(pake)
            .bind(confirm)
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the new device's key and MAC for an unexpired link request: `NotFound` if
    /// there is none, `Conflict` if it was not answered yet, has a key already, or failed.
    pub async fn link_device(&self, link_id: &str, device_key: &[u8], mac: &[u8], now: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(p) = Self::link_progress(&mut tx, link_id, now).await? else {
            return Err(StoreError::NotFound(NO_SUCH_LINK));
        };
        if p.failed {
            return Err(StoreError::Conflict(LINK_FAILED));
        }
        if !p.answered {
            return Err(StoreError::Conflict(
                "no device of the account has answered this link request yet",
            ));
        }
        if p.has_device {
            return Err(StoreError::Conflict("this link request already has its device key"));
        }
        sqlx::query("UPDATE link_requests SET device_key = ?, device_mac = ? WHERE link_id = ?")
            .bind(device_key)
            .bind(mac)
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the sealed bundle for an unexpired link request of `username`: `NotFound` if
    /// there is none, `Conflict` if the new device has not posted its key yet, it was
    /// approved already, or it failed.
    pub async fn approve_link(&self, link_id: &str, username: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let progress = Self::link_progress(&mut tx, link_id, now).await?;
        let Some(p) = progress.filter(|p| p.username == username) else {
            return Err(StoreError::NotFound(NO_SUCH_LINK));
        };
        if p.failed {
            return Err(StoreError::Conflict(LINK_FAILED));
        }
        if !p.has_device {
            return Err(StoreError::Conflict("the new device has not sent its key for this link request yet"));
        }
        if p.sealed {
            return Err(StoreError::Conflict("this link request was already approved"));
        }
        sqlx::query("UPDATE link_requests SET sealed = ? WHERE link_id = ?")
            .bind(sealed)
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks an unexpired link request failed (again is fine): nothing more is accepted for
    /// it. `NotFound` if there is none.
    pub async fn fail_link(&self, link_id: &str, now: i64) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE link_requests SET failed = 1 WHERE link_id = ? AND expires_at > ?")
            .bind(link_id)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound(NO_SUCH_LINK));
        }
        Ok(())
    }

    /// Everything posted so far for an unexpired link request; `None` if it is unknown or
    /// expired. Reading does not consume it: it lives until it expires.
    pub async fn link_state(&self, link_id: &str, now: i64) -> Result<Option<LinkState>, StoreError> {
        let row = sqlx::query(
            "SELECT answer_pake, answer_confirm, device_key, device_mac, sealed, failed \
             FROM link_requests WHERE link_id = ? AND expires_at > ?",
        )
        .bind(link_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let both = |a: Option<Vec<u8>>, b: Option<Vec<u8>>| a.zip(b);
        Ok(Some(LinkState {
            answer: both(r.try_get(0)?, r.try_get(1)?),
            device: both(r.try_get(2)?, r.try_get(3)?),
            sealed: r.try_get(4)?,
            failed: r.try_get::<i64, _>(5)? != 0,
        }))
    }
}
