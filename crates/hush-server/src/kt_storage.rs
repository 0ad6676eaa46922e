//! akd's storage on the server's SQLite database: [`SqliteAkdDb`] implements
//! [`akd::storage::Database`], and akd's [`StorageManager`](akd::storage::StorageManager)
//! wraps it (caching, and the in-memory transaction log that a publish commits in one go).
//!
//! Two tables, created by schema migration 3 (see `store.rs`):
//! - `akd_records(key, value)`: the tree nodes and the aZKS record, keyed by akd's own
//!   "full binary id" (a type byte followed by the record's key), the value in a compact
//!   big-endian binary layout (aZKS: `latest_epoch ‖ num_nodes`; tree node: label, latest
//!   node, optional previous node — see `encode_record`);
//! - `akd_value_states(username, epoch, version, label_val, label_len, value)`: every
//!   published version of every label, keyed by `(username, epoch)`, so the user-data
//!   queries (`MaxEpoch`, `LeqEpoch`, `SpecificVersion`…) are indexed SQL.
//!
//! Every `batch_set` is one `BEGIN IMMEDIATE` transaction, so a publish (which akd commits
//! as one `batch_set`) lands on disk all or nothing (the database runs with
//! `synchronous=FULL`). Epochs and versions are `u64` in akd and `INTEGER` (i64) in SQLite;
//! a value above `i64::MAX` is refused rather than wrapped.

use std::collections::HashMap;

use akd::errors::StorageError;
use akd::storage::types::{DbRecord, KeyData, StorageType, ValueState, ValueStateKey, ValueStateRetrievalFlag};
use akd::storage::{Database, DbSetState, Storable};
use akd::tree_node::{TreeNode, TreeNodeWithPreviousValue};
use akd::{AkdLabel, AkdValue, NodeLabel};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row as _, Sqlite, Transaction};

/// Most keys one `IN (…)` query carries.
const BATCH_GET_CHUNK: usize = 500;

/// akd's [`Database`] over the server's SQLite pool (the same database file as the rest of
/// the server's data).
#[derive(Clone, Debug)]
pub struct SqliteAkdDb {
    pool: SqlitePool,
}

impl SqliteAkdDb {
    /// akd storage on this pool; the tables must exist (schema migration 3).
    pub fn new(pool: SqlitePool) -> Self {
        SqliteAkdDb { pool }
    }

    /// Whether akd has stored anything yet (no aZKS, no node, no value).
    pub async fn is_empty(&self) -> Result<bool, sqlx::Error> {
        let row = sqlx::query(
            "SELECT EXISTS(SELECT 1 FROM akd_records) OR EXISTS(SELECT 1 FROM akd_value_states)",
        )
        .fetch_one(&self.pool)
        .await?;
        let any: bool = row.try_get(0)?;
        Ok(!any)
    }
}

fn db_err(e: sqlx::Error) -> StorageError {
    StorageError::Connection(format!("sqlite: {e}"))
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Other(format!("corrupt akd record in the database: {what}"))
}

fn to_db(n: u64, what: &str) -> Result<i64, StorageError> {
    i64::try_from(n).map_err(|_| StorageError::Other(format!("{what} {n} is too large for the database")))
}

fn from_db(n: i64, what: &str) -> Result<u64, StorageError> {
    u64::try_from(n).map_err(|_| corrupt(&format!("negative {what}")))
}

// ---- record codec ----

fn put_label(out: &mut Vec<u8>, label: &NodeLabel) {
    out.extend_from_slice(&label.label_val);
    out.extend_from_slice(&label.label_len.to_be_bytes());
}

fn put_opt_label(out: &mut Vec<u8>, label: Option<&NodeLabel>) {
    match label {
        Some(l) => {
            out.push(1);
            put_label(out, l);
        }
        None => out.push(0),
    }
}

/// The fields of a tree node but its label (which is the record's).
fn put_node(out: &mut Vec<u8>, node: &TreeNode) {
    out.extend_from_slice(&node.last_epoch.to_be_bytes());
    out.extend_from_slice(&node.min_descendant_epoch.to_be_bytes());
    put_label(out, &node.parent);
    out.push(node.node_type as u8);
    put_opt_label(out, node.left_child.as_ref());
    put_opt_label(out, node.right_child.as_ref());
    out.extend_from_slice(&node.hash.0);
}

/// Encodes a tree node or aZKS record (value states have their own table):
/// - aZKS: `latest_epoch u64 ‖ num_nodes u64` (big-endian);
/// - tree node: `label ‖ latest ‖ (0 | 1 ‖ previous)`, a label being `val[32] ‖ len u32` and
///   a node `last_epoch u64 ‖ min_descendant_epoch u64 ‖ parent label ‖ type u8 ‖
///   (0 | 1 ‖ left label) ‖ (0 | 1 ‖ right label) ‖ hash[32]`.
fn encode_record(record: &DbRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    match record {
        DbRecord::Azks(azks) => {
            out.extend_from_slice(&azks.latest_epoch.to_be_bytes());
            out.extend_from_slice(&azks.num_nodes.to_be_bytes());
        }
        DbRecord::TreeNode(node) => {
            put_label(&mut out, &node.label);
            put_node(&mut out, &node.latest_node);
            match &node.previous_node {
                Some(prev) => {
                    out.push(1);
                    put_node(&mut out, prev);
                }
                None => out.push(0),
            }
        }
        // Never stored here (see `batch_set`); kept total for safety.
        DbRecord::ValueState(_) => {}
    }
    out
}

/// A cursor over an encoded record.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], StorageError> {
        let (head, rest) = self.0.split_at_checked(N).ok_or_else(|| corrupt("truncated"))?;
        self.0 = rest;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64, StorageError> {
        Ok(u64::from_be_bytes(self.take()?))
    }

    fn u8(&mut self) -> Result<u8, StorageError> {
        Ok(self.take::<1>()?[0])
    }

    fn label(&mut self) -> Result<([u8; 32], u32), StorageError> {
        let val = self.take::<32>()?;
        let len = u32::from_be_bytes(self.take()?);
        Ok((val, len))
    }

    fn opt_label(&mut self) -> Result<Option<NodeLabel>, StorageError> {
        match self.u8()? {
            0 => Ok(None),
            1 => {
                let (val, len) = self.label()?;
                Ok(Some(NodeLabel::new(val, len)))
            }
            _ => Err(corrupt("bad option flag")),
        }
    }

    fn node(&mut self) -> Result<RawNode, StorageError> {
        Ok(RawNode {
            last_epoch: self.u64()?,
            min_descendant_epoch: self.u64()?,
            parent: self.label()?,
            node_type: self.u8()?,
            left: self.opt_label()?,
            right: self.opt_label()?,
            hash: self.take::<32>()?,
        })
    }
}

struct RawNode {
    last_epoch: u64,
    min_descendant_epoch: u64,
    parent: ([u8; 32], u32),
    node_type: u8,
    left: Option<NodeLabel>,
    right: Option<NodeLabel>,
    hash: [u8; 32],
}

/// Decodes what [`encode_record`] made for a record of type `kind`.
fn decode_record(kind: StorageType, bytes: &[u8]) -> Result<DbRecord, StorageError> {
    let mut r = Reader(bytes);
    let record = match kind {
        StorageType::Azks => {
            let latest_epoch = r.u64()?;
            let num_nodes = r.u64()?;
            DbRecord::Azks(DbRecord::build_azks(latest_epoch, num_nodes))
        }
        StorageType::TreeNode => {
            let (label_val, label_len) = r.label()?;
            let latest = r.node()?;
            let previous = match r.u8()? {
                0 => None,
                1 => Some(r.node()?),
                _ => return Err(corrupt("bad option flag")),
            };
            for t in std::iter::once(latest.node_type).chain(previous.as_ref().map(|p| p.node_type)) {
                if !(1..=3).contains(&t) {
                    return Err(corrupt("unknown node type"));
                }
            }
            let node: TreeNodeWithPreviousValue = DbRecord::build_tree_node_with_previous_value(
                label_val,
                label_len,
                latest.last_epoch,
                latest.min_descendant_epoch,
                latest.parent.0,
                latest.parent.1,
                latest.node_type,
                latest.left,
                latest.right,
                latest.hash,
                previous.as_ref().map(|p| p.last_epoch),
                previous.as_ref().map(|p| p.min_descendant_epoch),
                previous.as_ref().map(|p| p.parent.0),
                previous.as_ref().map(|p| p.parent.1),
                previous.as_ref().map(|p| p.node_type),
                previous.as_ref().and_then(|p| p.left),
                previous.as_ref().and_then(|p| p.right),
                previous.as_ref().map(|p| p.hash),
            );
            DbRecord::TreeNode(node)
        }
        StorageType::ValueState => return Err(corrupt("value state in the record table")),
    };
    if !r.0.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(record)
}

fn kind_of_key(key: &[u8]) -> Result<StorageType, StorageError> {
    match key.first() {
        Some(1) => Ok(StorageType::Azks),
        Some(2) => Ok(StorageType::TreeNode),
        Some(4) => Ok(StorageType::ValueState),
        _ => Err(corrupt("unknown record type")),
    }
}

// ---- value states ----

/// A value-state query: the selected columns (as [`state_from_row`] reads them) for one
/// username, then `$tail`.
macro_rules! state_query {
    ($tail:literal) => {
        concat!(
            "SELECT username, epoch, version, label_val, label_len, value FROM akd_value_states WHERE username = ?",
            $tail
        )
    };
}

fn state_from_row(row: &SqliteRow) -> Result<ValueState, StorageError> {
    let username: Vec<u8> = row.try_get(0).map_err(db_err)?;
    let epoch = from_db(row.try_get(1).map_err(db_err)?, "epoch")?;
    let version = from_db(row.try_get(2).map_err(db_err)?, "version")?;
    let label_val: Vec<u8> = row.try_get(3).map_err(db_err)?;
    let label_val: [u8; 32] = label_val.try_into().map_err(|_| corrupt("label is not 32 bytes"))?;
    let label_len: i64 = row.try_get(4).map_err(db_err)?;
    let label_len = u32::try_from(label_len).map_err(|_| corrupt("label length"))?;
    let value: Vec<u8> = row.try_get(5).map_err(db_err)?;
    Ok(DbRecord::build_user_state(username, value, version, label_len, label_val, epoch))
}

async fn insert_state(tx: &mut Transaction<'static, Sqlite>, s: &ValueState) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT OR REPLACE INTO akd_value_states (username, epoch, version, label_val, label_len, value)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&s.username.0)
    .bind(to_db(s.epoch, "epoch")?)
    .bind(to_db(s.version, "version")?)
    .bind(&s.label.label_val[..])
    .bind(i64::from(s.label.label_len))
    .bind(&s.value.0)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

impl SqliteAkdDb {
    async fn state_at_epoch(&self, username: &[u8], epoch: u64) -> Result<Option<ValueState>, StorageError> {
        let row = sqlx::query(state_query!(" AND epoch = ?"))
        .bind(username)
        .bind(to_db(epoch, "epoch")?)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(state_from_row).transpose()
    }

    async fn get_one<St: Storable>(&self, id: &St::StorageKey) -> Result<Option<DbRecord>, StorageError> {
        let key = St::get_full_binary_key_id(id);
        if St::data_type() == StorageType::ValueState {
            let ValueStateKey(username, epoch) = ValueState::key_from_full_binary(&key).map_err(StorageError::Other)?;
            return Ok(self.state_at_epoch(&username, epoch).await?.map(DbRecord::ValueState));
        }
        let row = sqlx::query("SELECT value FROM akd_records WHERE key = ?")
            .bind(&key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => {
                let value: Vec<u8> = row.try_get(0).map_err(db_err)?;
                Ok(Some(decode_record(St::data_type(), &value)?))
            }
            None => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl Database for SqliteAkdDb {
    async fn set(&self, record: DbRecord) -> Result<(), StorageError> {
        self.batch_set(vec![record], DbSetState::General).await
    }

    async fn batch_set(&self, records: Vec<DbRecord>, _state: DbSetState) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        for record in &records {
            match record {
                DbRecord::ValueState(state) => insert_state(&mut tx, state).await?,
                other => {
                    sqlx::query("INSERT OR REPLACE INTO akd_records (key, value) VALUES (?, ?)")
                        .bind(other.get_full_binary_id())
                        .bind(encode_record(other))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
            }
        }
        tx.commit().await.map_err(db_err)
    }

    async fn get<St: Storable>(&self, id: &St::StorageKey) -> Result<DbRecord, StorageError> {
        self.get_one::<St>(id)
            .await?
            .ok_or_else(|| StorageError::NotFound(format!("{:?} {id:?}", St::data_type())))
    }

    async fn batch_get<St: Storable>(&self, ids: &[St::StorageKey]) -> Result<Vec<DbRecord>, StorageError> {
        let mut out = Vec::with_capacity(ids.len());
        if St::data_type() == StorageType::ValueState {
            for id in ids {
                if let Some(record) = self.get_one::<St>(id).await? {
                    out.push(record);
                }
            }
            return Ok(out);
        }
        // Missing ids are left out, as akd's in-memory database does.
        for chunk in ids.chunks(BATCH_GET_CHUNK) {
            let mut query = QueryBuilder::<Sqlite>::new("SELECT key, value FROM akd_records WHERE key IN (");
            let mut keys = query.separated(", ");
            for id in chunk {
                keys.push_bind(St::get_full_binary_key_id(id));
            }
            query.push(")");
            let rows = query.build().fetch_all(&self.pool).await.map_err(db_err)?;
            for row in rows {
                let key: Vec<u8> = row.try_get(0).map_err(db_err)?;
                let value: Vec<u8> = row.try_get(1).map_err(db_err)?;
                out.push(decode_record(kind_of_key(&key)?, &value)?);
            }
        }
        Ok(out)
    }

    async fn get_user_data(&self, username: &AkdLabel) -> Result<KeyData, StorageError> {
        let rows = sqlx::query(state_query!(" ORDER BY epoch ASC"))
        .bind(&username.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        if rows.is_empty() {
            return Err(StorageError::NotFound(format!("ValueState {username:?}")));
        }
        let states = rows.iter().map(state_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(KeyData { states })
    }

    async fn get_user_state(&self, username: &AkdLabel, flag: ValueStateRetrievalFlag) -> Result<ValueState, StorageError> {
        let (sql, arg) = match flag {
            ValueStateRetrievalFlag::SpecificVersion(v) => (
                state_query!(" AND version = ? ORDER BY epoch ASC LIMIT 1"),
                Some(to_db(v, "version")?),
            ),
            ValueStateRetrievalFlag::SpecificEpoch(e) => (state_query!(" AND epoch = ?"), Some(to_db(e, "epoch")?)),
            ValueStateRetrievalFlag::LeqEpoch(e) => (
                state_query!(" AND epoch <= ? ORDER BY epoch DESC LIMIT 1"),
                // Every stored epoch is at most i64::MAX: a larger bound matches them all.
                Some(i64::try_from(e).unwrap_or(i64::MAX)),
            ),
            ValueStateRetrievalFlag::MaxEpoch => (state_query!(" ORDER BY epoch DESC LIMIT 1"), None),
            ValueStateRetrievalFlag::MinEpoch => (state_query!(" ORDER BY epoch ASC LIMIT 1"), None),
        };
        let mut q = sqlx::query(sql).bind(&username.0);
        if let Some(arg) = arg {
            q = q.bind(arg);
        }
        let row = q.fetch_optional(&self.pool).await.map_err(db_err)?;
        match row {
            Some(row) => state_from_row(&row),
            None => Err(StorageError::NotFound(format!("ValueState {username:?}"))),
        }
    }

    async fn get_user_state_versions(
        &self,
        usernames: &[AkdLabel],
        flag: ValueStateRetrievalFlag,
    ) -> Result<HashMap<AkdLabel, (u64, AkdValue)>, StorageError> {
        let mut map = HashMap::with_capacity(usernames.len());
        for username in usernames {
            match self.get_user_state(username, flag).await {
                Ok(state) => {
                    map.insert(state.username, (state.version, state.value));
                }
                Err(StorageError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::store::Store;

    async fn db() -> (tempfile::TempDir, Store, SqliteAkdDb) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        let akd_db = SqliteAkdDb::new(store.pool().clone());
        (dir, store, akd_db)
    }

    /// The acceptance test: akd's own storage test suite, run on our SQLite storage.
    #[tokio::test]
    async fn akd_storage_test_suite_passes() {
        let (_dir, _store, akd_db) = db().await;
        assert!(akd_db.is_empty().await.unwrap());
        akd::storage::tests::run_test_cases_for_storage_impl(akd_db.clone()).await;
        assert!(!akd_db.is_empty().await.unwrap());
    }

    #[tokio::test]
    async fn tree_nodes_round_trip_with_and_without_a_previous_value() {
        let (_dir, _store, akd_db) = db().await;
        let label = NodeLabel::new([7u8; 32], 9);
        let with_prev = DbRecord::build_tree_node_with_previous_value(
            [7u8; 32], 9, 5, 2, [1u8; 32], 3, 3,
            Some(NodeLabel::new([2u8; 32], 10)), None, [9u8; 32],
            Some(4), Some(1), Some([1u8; 32]), Some(3), Some(1), None, Some(NodeLabel::new([3u8; 32], 10)), Some([8u8; 32]),
        );
        akd_db.set(DbRecord::TreeNode(with_prev.clone())).await.unwrap();
        let got = akd_db.get::<TreeNodeWithPreviousValue>(&akd::tree_node::NodeKey(label)).await.unwrap();
        assert_eq!(got, DbRecord::TreeNode(with_prev));

        let missing = akd_db.get::<TreeNodeWithPreviousValue>(&akd::tree_node::NodeKey(NodeLabel::new([0u8; 32], 1))).await;
        assert!(matches!(missing, Err(StorageError::NotFound(_))));
        assert!(decode_record(StorageType::TreeNode, &[1, 2, 3]).is_err());
    }
}
