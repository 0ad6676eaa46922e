//! Files, end to end: resumable uploads, downloads, spaces and quotas against a real server
//! on loopback with a real SQLite database and object store in a temporary directory,
//! every request signed by a real device. Blobs, rows and states are opaque to the server,
//! so these tests use arbitrary bytes.

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use hush_proto::{
    B64, BlobInfo, Quota, SpaceRow, SpaceUpdate, SpaceVersion, SpaceView, UPLOAD_CHUNK_MAX, UploadStart, UploadStatus,
    codes,
};
use hush_server::ServerConfig;
use reqwest::StatusCode;

mod common;

use common::{Client, Running, TestDevice, conversation_with, execute_sql, expect_error};

// ---------------------------------------------------------------------------------------
// Harness: tests/common/mod.rs, and what only these tests need

fn config(dir: &Path) -> ServerConfig {
    ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf())
}

/// A server with these limits, and `names` registered (one device each, with key packages
/// so they can be added to conversations).
async fn setup_with(config: ServerConfig, names: &[&str]) -> (Running, Client, Vec<TestDevice>) {
    let server = Running::start_with(config).await;
    let client = Client::new();
    let mut devs = Vec::new();
    for name in names {
        let dev = TestDevice::new(name);
        client.register(&server, &dev, 3).await;
        devs.push(dev);
    }
    (server, client, devs)
}

async fn setup(dir: &Path, names: &[&str]) -> (Running, Client, Vec<TestDevice>) {
    setup_with(config(dir), names).await
}

fn drive(dev: &TestDevice) -> String {
    format!("drive:{}", dev.username)
}

/// Deterministic bytes that do not repeat with any chunk size the tests use.
fn pattern(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 11) ^ (i >> 19)) as u8)
        .collect()
}

fn entry(n: u8) -> String {
    format!("{:032x}", u128::from(n) + 0xe000)
}

fn row(entry_id: &str, blobs: &[&str]) -> SpaceRow {
    SpaceRow {
        entry_id: entry_id.to_owned(),
        blobs: blobs.iter().map(|b| (*b).to_owned()).collect(),
        row: B64(format!("sealed row {entry_id}").into_bytes()),
    }
}

fn blob_file(dir: &Path, blob_id: &str) -> PathBuf {
    dir.join(hush_server::BLOBS_DIR).join(blob_id)
}

fn part_file(dir: &Path, upload_id: &str) -> PathBuf {
    dir.join(hush_server::UPLOADS_DIR).join(format!("{upload_id}.part"))
}

impl Client {
    async fn start_upload(&self, server: &Running, dev: &TestDevice, space: &str, size: u64) -> reqwest::Response {
        let req = UploadStart {
            space: space.to_owned(),
            size,
        };
        self.post(server, dev, "/v1/uploads", &req).await
    }

    /// `POST /v1/uploads`, which must succeed.
    async fn started(&self, server: &Running, dev: &TestDevice, space: &str, size: u64) -> UploadStatus {
        let res = self.start_upload(server, dev, space, size).await;
        assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
        let status: UploadStatus = res.json().await.unwrap();
        assert_eq!(status.upload_id.len(), 32);
        assert_eq!((status.size, status.received), (size, 0));
        status
    }

    async fn put_chunk(&self, server: &Running, dev: &TestDevice, upload_id: &str, offset: u64, bytes: Vec<u8>) -> reqwest::Response {
        self.bytes(server, dev, "PUT", &format!("/v1/uploads/{upload_id}?offset={offset}"), bytes)
            .await
    }

    /// `PUT /v1/uploads/{id}`, which must succeed.
    async fn chunk_ok(&self, server: &Running, dev: &TestDevice, upload_id: &str, offset: u64, bytes: Vec<u8>) -> UploadStatus {
        let len = bytes.len() as u64;
        let res = self.put_chunk(server, dev, upload_id, offset, bytes).await;
        assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
        let status: UploadStatus = res.json().await.unwrap();
        assert_eq!(status.received, offset + len);
        status
    }

    async fn complete(&self, server: &Running, dev: &TestDevice, upload_id: &str) -> reqwest::Response {
        self.post(server, dev, &format!("/v1/uploads/{upload_id}/complete"), &()).await
    }

    async fn completed(&self, server: &Running, dev: &TestDevice, upload_id: &str) -> BlobInfo {
        let res = self.complete(server, dev, upload_id).await;
        assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
        res.json().await.unwrap()
    }

    /// Uploads `bytes` for `space` in chunks of at most `chunk` bytes: the blob.
    async fn upload(&self, server: &Running, dev: &TestDevice, space: &str, bytes: &[u8], chunk: usize) -> BlobInfo {
        let started = self.started(server, dev, space, bytes.len() as u64).await;
        let mut offset = 0;
        for part in bytes.chunks(chunk) {
            offset = self.chunk_ok(server, dev, &started.upload_id, offset, part.to_vec()).await.received;
        }
        let blob = self.completed(server, dev, &started.upload_id).await;
        assert_eq!(blob.blob_id, started.upload_id);
        assert_eq!(blob.size, bytes.len() as u64);
        blob
    }

    async fn download(&self, server: &Running, dev: &TestDevice, blob_id: &str, offset: Option<u64>) -> reqwest::Response {
        let path = match offset {
            Some(o) => format!("/v1/blobs/{blob_id}?offset={o}"),
            None => format!("/v1/blobs/{blob_id}"),
        };
        self.get(server, dev, &path).await
    }

    /// `GET /v1/blobs/{id}`, which must succeed: the bytes, checked against Content-Length.
    async fn downloaded(&self, server: &Running, dev: &TestDevice, blob_id: &str, offset: Option<u64>) -> Vec<u8> {
        let res = self.download(server, dev, blob_id, offset).await;
        assert_eq!(res.status(), StatusCode::OK);
        let ct = res.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        assert_eq!(ct, "application/octet-stream");
        let length: usize = res.headers().get("content-length").unwrap().to_str().unwrap().parse().unwrap();
        let bytes = res.bytes().await.unwrap().to_vec();
        assert_eq!(bytes.len(), length);
        bytes
    }

    async fn space(&self, server: &Running, dev: &TestDevice, space: &str) -> SpaceView {
        self.get_json(server, dev, &format!("/v1/spaces/{space}")).await
    }

    async fn update_space(
        &self,
        server: &Running,
        dev: &TestDevice,
        space: &str,
        expected_version: u64,
        put: Vec<SpaceRow>,
        delete: Vec<String>,
    ) -> reqwest::Response {
        let update = SpaceUpdate {
            expected_version,
            state: B64(format!("signed state {}", expected_version + 1).into_bytes()),
            put,
            delete,
        };
        self.post(server, dev, &format!("/v1/spaces/{space}"), &update).await
    }

    /// `POST /v1/spaces/{space}`, which must succeed: the new version.
    async fn updated(
        &self,
        server: &Running,
        dev: &TestDevice,
        space: &str,
        expected_version: u64,
        put: Vec<SpaceRow>,
        delete: Vec<String>,
    ) -> u64 {
        let res = self.update_space(server, dev, space, expected_version, put, delete).await;
        assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
        let v: SpaceVersion = res.json().await.unwrap();
        assert_eq!(v.version, expected_version + 1);
        v.version
    }

    async fn quota(&self, server: &Running, dev: &TestDevice) -> Quota {
        self.get_json(server, dev, "/v1/quota").await
    }
}

// ---------------------------------------------------------------------------------------
// Uploads and downloads

#[tokio::test]
async fn upload_in_three_chunks_complete_and_download() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice"]).await;
    let alice = &devs[0];
    let bytes = pattern(0, 250_001);

    let started = client.started(&server, alice, &drive(alice), bytes.len() as u64).await;
    let id = &started.upload_id;
    // Three chunks of different sizes.
    client.chunk_ok(&server, alice, id, 0, bytes[..100_000].to_vec()).await;
    let status: UploadStatus = client.get_json(&server, alice, &format!("/v1/uploads/{id}")).await;
    assert_eq!((status.received, status.size), (100_000, 250_001));
    client.chunk_ok(&server, alice, id, 100_000, bytes[100_000..200_000].to_vec()).await;
    client.chunk_ok(&server, alice, id, 200_000, bytes[200_000..].to_vec()).await;
    let q = client.quota(&server, alice).await;
    assert_eq!(q.used, 250_001, "an unfinished upload counts");

    let blob = client.completed(&server, alice, id).await;
    assert_eq!((blob.blob_id.as_str(), blob.size), (id.as_str(), 250_001));
    assert!(blob_file(dir.path(), id).exists(), "the blob is in the object store");
    assert!(!part_file(dir.path(), id).exists(), "the part file is gone");

    assert_eq!(client.downloaded(&server, alice, id, None).await, bytes);
    let q = client.quota(&server, alice).await;
    assert_eq!(q.used, 250_001);
    assert_eq!(q.limit, 64 * 1024 * 1024 * 1024);
    assert_eq!(q.max_upload, 16 * 1024 * 1024 * 1024);

    // Completing again (a lost answer) answers the same; the status says it is all there.
    let again = client.completed(&server, alice, id).await;
    assert_eq!((again.blob_id.as_str(), again.size), (id.as_str(), 250_001));
    let status: UploadStatus = client.get_json(&server, alice, &format!("/v1/uploads/{id}")).await;
    assert_eq!((status.received, status.size), (250_001, 250_001));
    // But no more bytes go into it.
    let res = client.put_chunk(&server, alice, id, 250_001, vec![1]).await;
    expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;
    server.stop().await;
}

#[tokio::test]
async fn download_from_an_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice"]).await;
    let alice = &devs[0];
    let bytes = pattern(7, 600_000);
    let blob = client.upload(&server, alice, &drive(alice), &bytes, 300_000).await;

    assert_eq!(client.downloaded(&server, alice, &blob.blob_id, Some(0)).await, bytes);
    assert_eq!(client.downloaded(&server, alice, &blob.blob_id, Some(123_457)).await, bytes[123_457..]);
    assert_eq!(client.downloaded(&server, alice, &blob.blob_id, Some(599_999)).await, bytes[599_999..]);
    assert!(client.downloaded(&server, alice, &blob.blob_id, Some(600_000)).await.is_empty());
    let res = client.download(&server, alice, &blob.blob_id, Some(600_001)).await;
    let err = expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    assert!(err.message.contains("600000 bytes"), "{}", err.message);
    let res = client.get(&server, alice, &format!("/v1/blobs/{}?offset=minus", blob.blob_id)).await;
    expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    server.stop().await;
}

#[tokio::test]
async fn an_empty_file_uploads_and_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice"]).await;
    let alice = &devs[0];
    let started = client.started(&server, alice, &drive(alice), 0).await;
    let blob = client.completed(&server, alice, &started.upload_id).await;
    assert_eq!(blob.size, 0);
    assert!(client.downloaded(&server, alice, &blob.blob_id, None).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn resume_after_a_wrong_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice"]).await;
    let alice = &devs[0];
    let bytes = pattern(3, 5000);
    let id = client.started(&server, alice, &drive(alice), 5000).await.upload_id;
    client.chunk_ok(&server, alice, &id, 0, bytes[..2000].to_vec()).await;

    // The client thinks it sent more (or less) than the server stored.
    for wrong in [0, 1999, 2001, 4000] {
        let res = client.put_chunk(&server, alice, &id, wrong, bytes[wrong as usize..][..500].to_vec()).await;
        let err = expect_error(res, StatusCode::CONFLICT, codes::CONFLICT).await;
        assert!(err.message.contains("from offset 2000"), "{}", err.message);
    }
    // It asks, and goes on from there.
    let status: UploadStatus = client.get_json(&server, alice, &format!("/v1/uploads/{id}")).await;
    assert_eq!(status.received, 2000);
    // A chunk past the declared size is refused, and nothing of it is kept.
    let res = client.put_chunk(&server, alice, &id, 2000, pattern(0, 3001)).await;
    let err = expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    assert!(err.message.contains("5000 bytes"), "{}", err.message);
    // Completing too early says what is missing.
    let res = client.complete(&server, alice, &id).await;
    let err = expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    assert!(err.message.contains("missing 3000 of its 5000 bytes"), "{}", err.message);

    client.chunk_ok(&server, alice, &id, 2000, bytes[2000..].to_vec()).await;
    client.completed(&server, alice, &id).await;
    assert_eq!(client.downloaded(&server, alice, &id, None).await, bytes);

    // A crash between writing a chunk and counting it leaves extra bytes in the part file:
    // they are dropped when the chunk is sent again.
    let id = client.started(&server, alice, &drive(alice), 3000).await.upload_id;
    client.chunk_ok(&server, alice, &id, 0, bytes[..1000].to_vec()).await;
    let part = part_file(dir.path(), &id);
    let mut on_disk = std::fs::read(&part).unwrap();
    on_disk.extend_from_slice(b"uncounted garbage left by a crash");
    std::fs::write(&part, &on_disk).unwrap();
    client.chunk_ok(&server, alice, &id, 1000, bytes[1000..3000].to_vec()).await;
    client.completed(&server, alice, &id).await;
    assert_eq!(client.downloaded(&server, alice, &id, None).await, bytes[..3000]);

    // A part file that lost bytes (a disk fault, a restore) has them asked for again.
    let id = client.started(&server, alice, &drive(alice), 3000).await.upload_id;
    client.chunk_ok(&server, alice, &id, 0, bytes[..1000].to_vec()).await;
    std::fs::OpenOptions::new().write(true).open(part_file(dir.path(), &id)).unwrap().set_len(400).unwrap();
    let status: UploadStatus = client.get_json(&server, alice, &format!("/v1/uploads/{id}")).await;
    assert_eq!(status.received, 400);
    let res = client.put_chunk(&server, alice, &id, 1000, bytes[1000..3000].to_vec()).await;
    let err = expect_error(res, StatusCode::CONFLICT, codes::CONFLICT).await;
    assert!(err.message.contains("from offset 400"), "{}", err.message);
    client.chunk_ok(&server, alice, &id, 400, bytes[400..3000].to_vec()).await;
    client.completed(&server, alice, &id).await;
    assert_eq!(client.downloaded(&server, alice, &id, None).await, bytes[..3000]);

    // Bad ids and a missing offset are the client's mistakes.
    let res = client.put_chunk(&server, alice, "NOT-AN-ID", 0, vec![1]).await;
    expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    let res = client.bytes(&server, alice, "PUT", &format!("/v1/uploads/{id}"), vec![1]).await;
    expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    let res = client.get(&server, alice, &format!("/v1/uploads/{}", "0".repeat(32))).await;
    expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;
    server.stop().await;
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_with_both_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_upload_bytes = 1024 * 1024;
    let (server, client, devs) = setup_with(cfg, &["alice"]).await;
    let alice = &devs[0];
    let res = client.start_upload(&server, alice, &drive(alice), 2 * 1024 * 1024 + 512 * 1024).await;
    let err = expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE).await;
    assert!(err.message.contains("2.5 MiB") && err.message.contains("1 MiB"), "{}", err.message);
    // Exactly the limit is fine.
    client.started(&server, alice, &drive(alice), 1024 * 1024).await;
    let q = client.quota(&server, alice).await;
    assert_eq!(q.max_upload, 1024 * 1024);

    // A chunk larger than UPLOAD_CHUNK_MAX is refused too, whatever the upload's size.
    let id = client.started(&server, alice, &drive(alice), 1000).await.upload_id;
    let res = client.put_chunk(&server, alice, &id, 0, vec![0; UPLOAD_CHUNK_MAX + 1]).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE).await;
    server.stop().await;
}

#[tokio::test]
async fn an_upload_past_the_quota_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.quota_bytes = 10_000;
    let (server, client, devs) = setup_with(cfg, &["alice", "bob"]).await;
    let (alice, bob) = (&devs[0], &devs[1]);
    client.upload(&server, alice, &drive(alice), &pattern(0, 6000), 6000).await;
    client.started(&server, alice, &drive(alice), 3000).await;
    let q = client.quota(&server, alice).await;
    assert_eq!((q.used, q.limit), (9000, 10_000));

    // Blobs and unfinished uploads both count.
    let res = client.start_upload(&server, alice, &drive(alice), 1001).await;
    let err = expect_error(res, StatusCode::FORBIDDEN, codes::QUOTA_EXCEEDED).await;
    assert_eq!(
        err.message,
        "this upload needs 1001 bytes but only 1000 bytes of your 9.8 KiB quota is left"
    );
    // What is left still fits, and another user has their own quota.
    client.started(&server, alice, &drive(alice), 1000).await;
    client.started(&server, bob, &drive(bob), 10_000).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Who may do what

#[tokio::test]
async fn another_user_can_neither_read_your_file_nor_use_your_drive() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice", "bob"]).await;
    let (alice, bob) = (&devs[0], &devs[1]);
    let blob = client.upload(&server, alice, &drive(alice), b"alice's file", 100).await;
    client.updated(&server, alice, &drive(alice), 0, vec![row(&entry(1), &[&blob.blob_id])], vec![]).await;

    // Alice's other device reads it.
    let alice2 = alice.sibling();
    client.add_device(&server, &alice2, 1).await;
    assert_eq!(client.downloaded(&server, &alice2, &blob.blob_id, None).await, b"alice's file");
    assert_eq!(client.space(&server, &alice2, &drive(alice)).await.rows.len(), 1);

    // Bob gets the answer a file that does not exist gets.
    let res = client.download(&server, bob, &blob.blob_id, None).await;
    let err = expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;
    let res = client.download(&server, bob, &"f".repeat(32), None).await;
    let unknown = expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;
    assert_eq!(err.message, unknown.message);

    // Bob can't read, write or upload into Alice's drive.
    let res = client.get(&server, bob, &format!("/v1/spaces/{}", drive(alice))).await;
    expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    let res = client.update_space(&server, bob, &drive(alice), 1, vec![], vec![entry(1)]).await;
    expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    let res = client.start_upload(&server, bob, &drive(alice), 10).await;
    let err = expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    assert!(err.message.contains("another user's drive"), "{}", err.message);
    assert_eq!(client.space(&server, alice, &drive(alice)).await.version, 1);

    // Nor touch Alice's upload in progress.
    let id = client.started(&server, alice, &drive(alice), 10).await.upload_id;
    let res = client.put_chunk(&server, bob, &id, 0, vec![0; 10]).await;
    expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;
    let res = client.get(&server, bob, &format!("/v1/uploads/{id}")).await;
    expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;
    let res = client.complete(&server, bob, &id).await;
    expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;

    // Names that are no space at all.
    for bad in ["alice", "drive:", "drive:Alice", "conv:xyz", "conv:ABCDEF0123456789ABCDEF0123456789", "files:x"] {
        let res = client.get(&server, alice, &format!("/v1/spaces/{bad}")).await;
        let err = expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
        assert!(err.message.contains("not a space name"), "{}", err.message);
    }
    // A conversation that does not exist looks like one Alice is not in.
    let res = client.get(&server, alice, &format!("/v1/spaces/conv:{}", "ab".repeat(16))).await;
    expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    // Unsigned requests get nothing.
    let res = client.get_raw(&server, &format!("/v1/blobs/{}", blob.blob_id)).await;
    expect_error(res, StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED).await;
    server.stop().await;
}

#[tokio::test]
async fn a_conversation_space_is_open_to_its_members_only() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice", "bob", "carol"]).await;
    let (alice, bob, carol) = (&devs[0], &devs[1], &devs[2]);
    let conv = conversation_with(&client, &server, alice, &[bob]).await;
    let space = format!("conv:{}", hex::encode(conv.id()));

    let bytes = pattern(11, 70_000);
    let blob = client.upload(&server, alice, &space, &bytes, 32_768).await;
    client.updated(&server, alice, &space, 0, vec![row(&entry(1), &[&blob.blob_id])], vec![]).await;

    // Bob, a member, reads the rows and the file they refer to, and writes the space.
    let view = client.space(&server, bob, &space).await;
    assert_eq!(view.version, 1);
    assert_eq!(view.state.unwrap().0, b"signed state 1");
    assert_eq!(view.rows.len(), 1);
    assert_eq!(view.rows[0].entry_id, entry(1));
    assert_eq!(view.rows[0].blobs, vec![blob.blob_id.clone()]);
    assert_eq!(view.rows[0].row.0, format!("sealed row {}", entry(1)).into_bytes());
    assert_eq!(client.downloaded(&server, bob, &blob.blob_id, Some(1)).await, bytes[1..]);
    client.updated(&server, bob, &space, 1, vec![row(&entry(2), &[])], vec![]).await;
    // bob can read alice's file here, but may not make his drive refer to it (it would
    // stay reachable for him after a removal): he uploads his own copy instead.
    let res = client.update_space(&server, bob, &drive(bob), 0, vec![row(&entry(9), &[&blob.blob_id])], vec![]).await;
    let err = expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    assert!(err.message.contains("didn't upload"), "{}", err.message);

    // Carol, who is not in the conversation, gets nothing.
    let res = client.get(&server, carol, &format!("/v1/spaces/{space}")).await;
    let err = expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    assert!(err.message.contains("not a member of this conversation"), "{}", err.message);
    let res = client.update_space(&server, carol, &space, 2, vec![], vec![]).await;
    expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    let res = client.start_upload(&server, carol, &space, 1).await;
    expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    let res = client.download(&server, carol, &blob.blob_id, None).await;
    expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;
    server.stop().await;
}

#[tokio::test]
async fn a_row_may_not_refer_to_a_file_the_writer_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice", "bob"]).await;
    let (alice, bob) = (&devs[0], &devs[1]);
    let bobs = client.upload(&server, bob, &drive(bob), b"bob's secret", 100).await;

    // Knowing the id of Bob's file gives Alice nothing: no download, no reference to it.
    let res = client.update_space(&server, alice, &drive(alice), 0, vec![row(&entry(1), &[&bobs.blob_id])], vec![]).await;
    let err = expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    assert!(err.message.contains(&bobs.blob_id), "{}", err.message);
    // Nor does a made-up id.
    let res = client.update_space(&server, alice, &drive(alice), 0, vec![row(&entry(1), &["0".repeat(32).as_str()])], vec![]).await;
    expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    // Nothing changed.
    assert_eq!(client.space(&server, alice, &drive(alice)).await.version, 0);
    let res = client.download(&server, alice, &bobs.blob_id, None).await;
    expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;

    // Malformed ids and duplicate entries are the client's mistakes.
    let res = client.update_space(&server, alice, &drive(alice), 0, vec![row("E1", &[])], vec![]).await;
    expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    let res = client.update_space(&server, alice, &drive(alice), 0, vec![row(&entry(1), &["x"])], vec![]).await;
    expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    let res = client.update_space(&server, alice, &drive(alice), 0, vec![row(&entry(1), &[]), row(&entry(1), &[])], vec![]).await;
    expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    let res = client.update_space(&server, alice, &drive(alice), 0, vec![row(&entry(1), &[])], vec![entry(1)]).await;
    expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    let res = client.update_space(&server, alice, &drive(alice), 0, vec![], vec!["nope".into()]).await;
    expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Spaces

#[tokio::test]
async fn space_writes_are_compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice"]).await;
    let alice = &devs[0];
    let alice2 = alice.sibling();
    client.add_device(&server, &alice2, 1).await;
    let space = drive(alice);

    let empty = client.space(&server, alice, &space).await;
    assert_eq!((empty.version, empty.state.is_none(), empty.rows.len()), (0, true, 0));

    // Both devices read version 0 and write; the second loses.
    client.updated(&server, alice, &space, 0, vec![row(&entry(1), &[])], vec![]).await;
    let res = client.update_space(&server, &alice2, &space, 0, vec![row(&entry(2), &[])], vec![]).await;
    let err = expect_error(res, StatusCode::CONFLICT, codes::CONFLICT).await;
    assert_eq!(err.message, "the space changed since you read it; read it again");
    // A version from the future is no better.
    let res = client.update_space(&server, &alice2, &space, 5, vec![], vec![]).await;
    expect_error(res, StatusCode::CONFLICT, codes::CONFLICT).await;

    // It reads again and redoes its change.
    let view = client.space(&server, &alice2, &space).await;
    assert_eq!(view.version, 1);
    assert_eq!(view.rows.iter().map(|r| r.entry_id.clone()).collect::<Vec<_>>(), vec![entry(1)]);
    client.updated(&server, &alice2, &space, 1, vec![row(&entry(2), &[])], vec![]).await;
    // Replace one row, delete another (and one that never existed).
    let mut replaced = row(&entry(2), &[]);
    replaced.row = B64(b"second version".to_vec());
    client.updated(&server, alice, &space, 2, vec![replaced], vec![entry(1), entry(3)]).await;
    let view = client.space(&server, alice, &space).await;
    assert_eq!(view.version, 3);
    assert_eq!(view.state.unwrap().0, b"signed state 3");
    assert_eq!(view.rows.len(), 1);
    assert_eq!((view.rows[0].entry_id.clone(), view.rows[0].row.0.clone()), (entry(2), b"second version".to_vec()));
    server.stop().await;
}

#[tokio::test]
async fn removing_the_last_row_that_refers_to_a_file_deletes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice"]).await;
    let alice = &devs[0];
    let space = drive(alice);
    let keep = client.upload(&server, alice, &space, &pattern(0, 1000), 1000).await;
    let gone = client.upload(&server, alice, &space, &pattern(1, 4000), 4000).await;
    assert_eq!(client.quota(&server, alice).await.used, 5000);

    // Two rows refer to `gone` (two versions kept, say), one also to `keep`.
    client
        .updated(
            &server,
            alice,
            &space,
            0,
            vec![row(&entry(1), &[&keep.blob_id, &gone.blob_id]), row(&entry(2), &[&gone.blob_id])],
            vec![],
        )
        .await;
    // Entry 1 drops `gone` and keeps `keep`; entry 2 still refers to `gone`.
    client.updated(&server, alice, &space, 1, vec![row(&entry(1), &[&keep.blob_id])], vec![]).await;
    assert!(blob_file(dir.path(), &gone.blob_id).exists());
    assert_eq!(client.quota(&server, alice).await.used, 5000);

    // The last row referring to it goes: so do its bytes, and its size from the quota.
    client.updated(&server, alice, &space, 2, vec![], vec![entry(2)]).await;
    assert!(!blob_file(dir.path(), &gone.blob_id).exists(), "the object file is deleted");
    assert!(blob_file(dir.path(), &keep.blob_id).exists());
    assert_eq!(client.quota(&server, alice).await.used, 1000);
    let res = client.download(&server, alice, &gone.blob_id, None).await;
    expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;
    // It can't be referred to again.
    let res = client.update_space(&server, alice, &space, 3, vec![row(&entry(5), &[&gone.blob_id])], vec![]).await;
    expect_error(res, StatusCode::FORBIDDEN, codes::FORBIDDEN).await;
    server.stop().await;
}

#[tokio::test]
async fn space_updates_take_larger_bodies_than_other_routes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice"]).await;
    let alice = &devs[0];
    // 3 MiB of rows (48 of 64 KiB, the most one row may be): over the 1 MiB every other
    // route takes, under the 32 MiB of spaces.
    let rows: Vec<_> = (1..=48)
        .map(|i| {
            let mut r = row(&entry(i), &[]);
            r.row = B64(vec![7; 64 * 1024]);
            r
        })
        .collect();
    client.updated(&server, alice, &drive(alice), 0, rows, vec![]).await;
    assert_eq!(client.space(&server, alice, &drive(alice)).await.rows.len(), 48);
    // One row over 64 KiB is refused.
    let mut big = row(&entry(99), &[]);
    big.row = B64(vec![7; 64 * 1024 + 1]);
    let res = client.update_space(&server, alice, &drive(alice), 1, vec![big], vec![]).await;
    let err = expect_error(res, StatusCode::BAD_REQUEST, codes::BAD_REQUEST).await;
    assert!(err.message.contains("at most 65536"), "{}", err.message);
    // The same body to another route is too large.
    let res = client.raw(&server, alice, "POST", "/v1/inbox/ack", vec![b' '; 3 * 1024 * 1024]).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE).await;
    // And an upload takes a full chunk.
    let id = client.started(&server, alice, &drive(alice), UPLOAD_CHUNK_MAX as u64).await.upload_id;
    client.chunk_ok(&server, alice, &id, 0, pattern(0, UPLOAD_CHUNK_MAX)).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Housekeeping

#[tokio::test]
async fn week_old_uploads_and_unused_files_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice"]).await;
    let alice = &devs[0];
    let unfinished = client.started(&server, alice, &drive(alice), 5000).await.upload_id;
    client.chunk_ok(&server, alice, &unfinished, 0, pattern(0, 2000)).await;
    let unused = client.upload(&server, alice, &drive(alice), &pattern(0, 300), 300).await;
    let used = client.upload(&server, alice, &drive(alice), &pattern(0, 700), 700).await;
    client.updated(&server, alice, &drive(alice), 0, vec![row(&entry(1), &[&used.blob_id])], vec![]).await;
    let fresh = client.started(&server, alice, &drive(alice), 10).await.upload_id;
    assert_eq!(client.quota(&server, alice).await.used, 5000 + 300 + 700 + 10);
    server.stop().await;

    // A week passes for all but the fresh upload.
    execute_sql(dir.path(), "UPDATE uploads SET created_at = 0").await;
    execute_sql(dir.path(), "UPDATE blobs SET created_at = 0").await;
    let pool = common::database(dir.path()).await;
    sqlx::query("UPDATE uploads SET created_at = ? WHERE upload_id = ?")
        .bind(hush_core::now_ms())
        .bind(&fresh)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    // The sweep runs when the server starts.
    let server = Running::start(dir.path()).await;
    let mut waited = 0;
    while client.quota(&server, alice).await.used != 710 {
        waited += 1;
        assert!(waited < 100, "the sweep did not run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!part_file(dir.path(), &unfinished).exists());
    assert!(!blob_file(dir.path(), &unused.blob_id).exists());
    assert!(blob_file(dir.path(), &used.blob_id).exists(), "a file a row refers to stays");
    let res = client.get(&server, alice, &format!("/v1/uploads/{unfinished}")).await;
    expect_error(res, StatusCode::NOT_FOUND, codes::NOT_FOUND).await;
    let status: UploadStatus = client.get_json(&server, alice, &format!("/v1/uploads/{fresh}")).await;
    assert_eq!(status.size, 10);
    assert_eq!(client.downloaded(&server, alice, &used.blob_id, None).await, pattern(0, 700));
    server.stop().await;
}

/// Peak resident memory of this process (the server runs in it), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A large file goes up, into the object store and down without the server ever holding
/// it in memory: the process's peak memory grows by far less than the file. The size is
/// `HUSH_TEST_BIG_FILE_MIB` MiB (default 256).
#[tokio::test]
async fn a_large_file_streams_with_flat_memory() {
    let mib: u64 = std::env::var("HUSH_TEST_BIG_FILE_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let size = mib * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let (server, client, devs) = setup(dir.path(), &["alice"]).await;
    let alice = &devs[0];
    let before = peak_rss();

    let id = client.started(&server, alice, &drive(alice), size).await.upload_id;
    let mut offset = 0;
    while offset < size {
        let len = (size - offset).min(UPLOAD_CHUNK_MAX as u64) as usize;
        offset = client.chunk_ok(&server, alice, &id, offset, pattern(offset, len)).await.received;
    }
    client.completed(&server, alice, &id).await;
    assert_eq!(std::fs::metadata(blob_file(dir.path(), &id)).unwrap().len(), size);

    let mut res = client.download(&server, alice, &id, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut got = 0_u64;
    while let Some(chunk) = res.chunk().await.unwrap() {
        assert!(chunk[..] == pattern(got, chunk.len())[..], "bytes differ at {got}");
        got += chunk.len() as u64;
    }
    assert_eq!(got, size);

    let grew = peak_rss().saturating_sub(before);
    eprintln!("{mib} MiB file: peak memory grew by {} MiB", grew / 1024 / 1024);
    assert!(grew < 128 * 1024 * 1024, "peak memory grew by {grew} bytes for a {size}-byte file");
    server.stop().await;
}
