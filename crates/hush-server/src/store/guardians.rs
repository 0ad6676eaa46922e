//! Guardian recovery (relay only: the server sees an HPKE key and sealed shares).

use sqlx::{Row as _, Sqlite, Transaction};

use super::{Store, StoreError, is_unique_violation};

/// A new guardian request, already validated.
#[derive(Debug, Clone, Copy)]
pub struct NewGuardianRequest<'a> {
    /// Random id (the capability to fetch the shares).
    pub request_id: &'a str,
    /// The account being recovered.
    pub username: &'a str,
    /// The new device's HPKE key.
    pub hpke_key: &'a [u8],
    /// When it expires, unix ms.
    pub expires_at: i64,
}

/// An unexpired guardian request.
#[derive(Debug, Clone)]
pub struct GuardianRequestRow {
    /// Its id.
    pub request_id: String,
    /// The new device's HPKE key.
    pub hpke_key: Vec<u8>,
    /// When it was made.
    pub created_at: i64,
}

impl Store {
    // ---- guardian recovery (relay only: the server sees an HPKE key and sealed shares) ----

    /// Deletes expired guardian requests and their shares.
    pub(super) async fn prune_guardian_requests(tx: &mut Transaction<'static, Sqlite>, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM guardian_shares WHERE request_id IN
                 (SELECT request_id FROM guardian_requests WHERE expires_at <= ?)",
        )
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM guardian_requests WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records a guardian request for an existing user (`NotFound` otherwise); at most
    /// `max_pending` unexpired requests per user (`TooMany`). Expired ones are deleted first.
    pub async fn create_guardian_request(
        &self,
        request: &NewGuardianRequest<'_>,
        now: i64,
        max_pending: i64,
    ) -> Result<(), StoreError> {
        let NewGuardianRequest { request_id, username, hpke_key, expires_at } = *request;
        let mut tx = self.write_tx().await?;
        Self::prune_guardian_requests(&mut tx, now).await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound("there is no such user"));
        }
        let pending: i64 = sqlx::query("SELECT COUNT(*) FROM guardian_requests WHERE username = ? AND expires_at > ?")
            .bind(username)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if pending >= max_pending {
            return Err(StoreError::TooMany(
                "too many guardian recovery requests are open for this account; try again tomorrow",
                24 * 60 * 60,
            ));
        }
        sqlx::query(
            "INSERT INTO guardian_requests (request_id, username, hpke_key, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(request_id)
        .bind(username)
        .bind(hpke_key)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unexpired guardian requests for a user, oldest first (none for an unknown user).
    pub async fn pending_guardian_requests(&self, username: &str, now: i64) -> Result<Vec<GuardianRequestRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT request_id, hpke_key, created_at FROM guardian_requests \
             WHERE username = ? AND expires_at > ? ORDER BY created_at, request_id",
        )
        .bind(username)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(GuardianRequestRow {
                    request_id: r.try_get(0)?,
                    hpke_key: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Stores the sealed share of guardian device `device_id` of user `guardian` for an
    /// unexpired request: `NotFound` if there is none, `Forbidden` if the guardian is the
    /// account being recovered, `Conflict` if this device posted a share already.
    pub async fn add_guardian_share(
        &self,
        request_id: &str,
        guardian: &str,
        device_id: &str,
        sealed: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let owner: Option<String> =
            sqlx::query("SELECT username FROM guardian_requests WHERE request_id = ? AND expires_at > ?")
                .bind(request_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        let Some(owner) = owner else {
            return Err(StoreError::NotFound("no such guardian request, or it expired"));
        };
        if owner == guardian {
            return Err(StoreError::Forbidden(
                "a device of the account being recovered can't be its guardian",
            ));
        }
        let inserted = sqlx::query(
            "INSERT INTO guardian_shares (request_id, device_id, sealed, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(request_id)
        .bind(device_id)
        .bind(sealed)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict("this device has already sent its share for this request"));
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(())
    }

    /// The sealed shares of an unexpired guardian request in the order they arrived;
    /// `None` if it is unknown or expired.
    pub async fn guardian_shares(&self, request_id: &str, now: i64) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        // One read transaction: the request and its shares as of one instant. A share's
        // rowid is above those of the shares of its request inserted before it.
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM guardian_requests WHERE request_id = ? AND expires_at > ?")
            .bind(request_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let shares = sqlx::query("SELECT sealed FROM guardian_shares WHERE request_id = ? ORDER BY rowid")
            .bind(request_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<Vec<Vec<u8>>, _>>()?;
        tx.commit().await?;
        Ok(Some(shares))
    }
}
