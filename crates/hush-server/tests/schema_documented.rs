//! docs/WHAT-THE-SERVER-KNOWS.md must match what the server keeps, file by file and column
//! by column: a real server starts on a fresh data directory (every migration applied), and
//! every file in the directory and every table and column of its database must be listed in
//! the page's two machine-checked tables, and everything listed there must exist.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::Running;
use sqlx::Row as _;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

const DOC: &str = include_str!("../../../docs/WHAT-THE-SERVER-KNOWS.md");

/// The backticked names in the first cell of each table row of the section headed `heading`.
fn documented(heading: &str) -> BTreeSet<String> {
    let start = DOC.find(heading).unwrap_or_else(|| panic!("the page has no section {heading:?}"));
    let section = &DOC[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut out = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.trim_start_matches('|').split('|').next().unwrap();
        for part in cell.split('`').skip(1).step_by(2) {
            assert!(out.insert(part.to_owned()), "{part} is listed twice");
        }
    }
    assert!(!out.is_empty(), "no rows under {heading:?}");
    out
}

#[tokio::test]
async fn every_file_table_and_column_is_documented() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path()).await;

    // Files of the data directory (the database's -wal and -shm companions count as it).
    let mut files = BTreeSet::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let name = name.trim_end_matches("-wal").trim_end_matches("-shm").to_owned();
        let is_dir = dir.path().join(&name).is_dir();
        files.insert(if is_dir { format!("{name}/") } else { name });
    }
    let doc_files = documented("## The data directory, file by file");
    let undocumented: Vec<_> = files.difference(&doc_files).collect();
    let gone: Vec<_> = doc_files.difference(&files).collect();
    assert!(undocumented.is_empty(), "files the server keeps that the page doesn't list: {undocumented:?}");
    assert!(gone.is_empty(), "files the page lists that the server doesn't keep: {gone:?}");

    // Tables and columns.
    let options = SqliteConnectOptions::new().filename(dir.path().join(hush_server::DATABASE_FILE)).read_only(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
    let tables: Vec<String> = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.len() > 20, "the schema was read: {tables:?}");
    let mut columns = BTreeSet::new();
    for t in &tables {
        let cols = sqlx::query("SELECT name FROM pragma_table_info(?)").bind(t).fetch_all(&pool).await.unwrap();
        assert!(!cols.is_empty(), "table {t} has no columns?");
        for c in cols {
            let c: String = c.get(0);
            columns.insert(format!("{t}.{c}"));
        }
    }
    pool.close().await;
    let doc_columns = documented("## The database, column by column");
    let undocumented: Vec<_> = columns.difference(&doc_columns).collect();
    let gone: Vec<_> = doc_columns.difference(&columns).collect();
    assert!(undocumented.is_empty(), "columns the database has that docs/WHAT-THE-SERVER-KNOWS.md doesn't explain: {undocumented:?}");
    assert!(gone.is_empty(), "columns docs/WHAT-THE-SERVER-KNOWS.md explains that the database no longer has: {gone:?}");
    server.stop().await;
}
