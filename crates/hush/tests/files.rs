//! Files through the real binary against a real server: put, share, get, versions,
//! export to age, quotas, resumable transfers, removal of members, and a server that
//! changes what it stores (blobs, manifests, folder state) on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Writes `len` bytes of deterministic, incompressible-looking content.
fn make_file(path: &Path, len: u64, seed: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

/// Whether two files have the same bytes (streamed, so 1 GiB files are fine).
fn same_file(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (std::fs::File::open(a).unwrap(), std::fs::File::open(b).unwrap());
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// A space's rows as the server stores them: entry id → row (hex).
fn rows(data: &Path, space: &str) -> BTreeMap<String, String> {
    operator_query(data, &format!("SELECT entry_id, row FROM space_rows WHERE space = '{space}'"))
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

/// The rows added since `before`.
fn new_rows(data: &Path, space: &str, before: &BTreeMap<String, String>) -> Vec<String> {
    rows(data, space).into_keys().filter(|k| !before.contains_key(k)).collect()
}

fn blobs_of(data: &Path, space: &str, entry: &str) -> Vec<String> {
    operator_query(data, &format!("SELECT blob_id FROM space_row_blobs WHERE space = '{space}' AND entry_id = '{entry}'"))
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

/// Where the server keeps a blob.
fn blob_file(data: &Path, blob_id: &str) -> PathBuf {
    fn find(dir: &Path, name: &str) -> Option<PathBuf> {
        for e in std::fs::read_dir(dir).ok()? {
            let e = e.ok()?;
            if e.file_type().ok()?.is_dir() {
                if let Some(p) = find(&e.path(), name) {
                    return Some(p);
                }
            } else if e.file_name().to_str() == Some(name) {
                return Some(e.path());
            }
        }
        None
    }
    find(&data.join("blobs"), blob_id).unwrap_or_else(|| panic!("blob {blob_id} not found under {}", data.display()))
}

fn set_row(data: &Path, space: &str, entry: &str, row_hex: &str) {
    operator_sql(data, &format!("UPDATE space_rows SET row = X'{row_hex}' WHERE space = '{space}' AND entry_id = '{entry}'"));
}

fn conv_space(home: &Path, name: &str) -> String {
    let out = ok(home, &["conversation", "list", "--json"]);
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["name"] == name || v["display"] == name {
            return format!("conv:{}", v["id"].as_str().unwrap());
        }
    }
    panic!("no conversation {name} in {out}");
}

fn no_leftovers(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".partial"), "a partial file was left behind: {name}");
    }
}

#[test]
fn put_share_get_versions_and_the_server_holds_no_plaintext() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);

    let report = dir.path().join("quarterly-forecast.txt");
    let secret = "the merger closes on the ninth of december";
    let mut content = secret.repeat(40_000).into_bytes(); // ~1.6 MiB, several chunks
    content.extend_from_slice(b"end");
    std::fs::write(&report, &content).unwrap();
    ok(&a, &["mkdir", "Work/2026"]);
    let out = ok(&a, &["put", report.to_str().unwrap(), "Work/2026"]);
    assert!(out.contains("Work/2026/quarterly-forecast.txt") && out.contains("version 1"), "{out}");

    let listing: serde_json::Value = serde_json::from_str(&ok(&a, &["ls", "Work/2026", "--json"])).unwrap();
    assert_eq!(listing[0]["name"], "quarterly-forecast.txt");
    assert_eq!(listing[0]["size"], content.len() as u64);
    assert_eq!(listing[0]["mime"], "text/plain");
    assert_eq!(listing[0]["author"], "alice");
    let root = ok(&a, &["ls"]);
    assert!(root.contains("Work/"), "{root}");

    // Shared with bob without uploading again: bob gets the same bytes.
    let stored_before = std::fs::read_dir(data.join("blobs")).unwrap().count();
    ok(&a, &["share", "Work/2026/quarterly-forecast.txt", "--with", "bob", "--new"]);
    assert_eq!(std::fs::read_dir(data.join("blobs")).unwrap().count(), stored_before, "sharing stored nothing new");
    let got = dir.path().join("got.txt");
    ok(&b, &["get", "alice:quarterly-forecast.txt", "-o", got.to_str().unwrap()]);
    assert_eq!(std::fs::read(&got).unwrap(), content);
    let theirs = ok(&b, &["ls", "alice:"]);
    assert!(theirs.contains("quarterly-forecast.txt") && theirs.contains("alice"), "{theirs}");

    // A second put is version 2; version 1 is kept and still opens.
    std::fs::write(&report, b"revised: the merger is off").unwrap();
    let out = ok(&a, &["put", report.to_str().unwrap(), "Work/2026/quarterly-forecast.txt"]);
    assert!(out.contains("version 2"), "{out}");
    let v1 = dir.path().join("v1.txt");
    let v2 = dir.path().join("v2.txt");
    ok(&a, &["get", "Work/2026/quarterly-forecast.txt", "--version", "1", "-o", v1.to_str().unwrap()]);
    ok(&a, &["get", "Work/2026/quarterly-forecast.txt", "-o", v2.to_str().unwrap()]);
    assert_eq!(std::fs::read(&v1).unwrap(), content);
    assert_eq!(std::fs::read(&v2).unwrap(), b"revised: the merger is off");

    // Rename and move inside the drive.
    ok(&a, &["mv", "Work/2026/quarterly-forecast.txt", "Work/forecast.txt"]);
    assert!(ok(&a, &["ls", "Work"]).contains("forecast.txt"));
    let err = fails(&a, &["get", "Work/2026/quarterly-forecast.txt", "-o", v1.to_str().unwrap(), "--force"]);
    assert!(err.contains("no such file"), "{err}");

    // Unsharing takes bob's copy away.
    ok(&a, &["unshare", "Work/forecast.txt", "--from", "bob"]);
    let err = fails(&b, &["get", "alice:quarterly-forecast.txt", "-o", dir.path().join("x").to_str().unwrap()]);
    assert!(err.contains("no such file"), "{err}");

    // Nothing the server stores shows a name, a folder or the content.
    let bytes = all_bytes(&data);
    for needle in ["quarterly-forecast", "forecast.txt", "Work/2026", "the merger", "ninth of december"] {
        assert!(!contains(&bytes, needle), "the server's data holds {needle:?}");
    }
}

#[test]
fn a_1_gib_file_round_trips_with_flat_memory() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    let big = dir.path().join("big.bin");
    make_file(&big, 1 << 30, 7);

    // Peak resident memory of each client run, from GNU time.
    let peak_kib = |home: &Path, args: &[&str]| -> u64 {
        let out = std::process::Command::new("/usr/bin/time")
            .args(["-f", "peak-rss-kib %M", hush_bin(), "--home"])
            .arg(home)
            .args(args)
            .env("HUSH_PASSPHRASE", PASS)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "hush {args:?} failed: {err}");
        err.lines().find_map(|l| l.strip_prefix("peak-rss-kib ")).unwrap().trim().parse().unwrap()
    };
    let put = peak_kib(&a, &["put", big.to_str().unwrap(), "big.bin"]);
    ok(&a, &["share", "big.bin", "--with", "bob", "--new"]);
    let got = dir.path().join("got.bin");
    let get = peak_kib(&b, &["get", "alice:big.bin", "-o", got.to_str().unwrap()]);
    assert!(same_file(&big, &got), "bob's copy differs");
    std::fs::remove_file(&got).unwrap();

    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let server_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    eprintln!("1 GiB: peak RSS put {} MiB, get {} MiB, server {} MiB", put / 1024, get / 1024, server_kib / 1024);
    // The acceptance bound: memory stays flat whatever the file's size.
    for (who, kib) in [("put", put), ("get", get), ("server", server_kib)] {
        assert!(kib < 100 * 1024, "{who} peaked at {} MiB", kib / 1024);
    }
}

#[test]
fn a_server_that_changes_a_blob_is_caught_and_nothing_is_written() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let a = dir.path().join("a");
    register(&a, "alice", &server.url);
    let drive = "drive:alice";
    let (f1, f2) = (dir.path().join("one.bin"), dir.path().join("two.bin"));
    make_file(&f1, 5 * 65536 + 1000, 1);
    make_file(&f2, 5 * 65536 + 1000, 2);
    let before = rows(&data, drive);
    ok(&a, &["put", f1.to_str().unwrap(), "one.bin"]);
    let one = new_rows(&data, drive, &before)[0].clone();
    let before = rows(&data, drive);
    ok(&a, &["put", f2.to_str().unwrap(), "two.bin"]);
    let two = new_rows(&data, drive, &before)[0].clone();
    // A second version of one.bin: its first version's blob is an "older version".
    let v1_blob = blob_file(&data, &blobs_of(&data, drive, &one)[0]);
    let v1 = std::fs::read(&v1_blob).unwrap();
    make_file(&f1, 5 * 65536 + 1000, 3);
    ok(&a, &["put", f1.to_str().unwrap(), "one.bin"]);
    let ids = blobs_of(&data, drive, &one);
    let current = ids.iter().map(|i| blob_file(&data, i)).find(|p| p != &v1_blob).unwrap();
    let good = std::fs::read(&current).unwrap();
    let other = std::fs::read(blob_file(&data, &blobs_of(&data, drive, &two)[0])).unwrap();

    // age layout: header, 16-byte nonce, then 65,552-byte chunks.
    let chunk = 65536 + 16;
    let payload = good.len() - (5 * chunk + (1000 + 16));
    let at = |i: usize| payload + i * chunk;
    let swap = |b: &[u8]| {
        let mut v = b.to_vec();
        v[at(1)..at(2)].copy_from_slice(&b[at(2)..at(3)]);
        v[at(2)..at(3)].copy_from_slice(&b[at(1)..at(2)]);
        v
    };
    let truncated = good[..at(3)].to_vec();
    let appended = [good.as_slice(), &good[at(1)..at(2)]].concat();
    let spliced_other = [&good[..at(2)], &other[at(2)..at(3)], &good[at(3)..]].concat();
    let spliced_old = [&good[..at(2)], &v1[at(2)..at(3)], &good[at(3)..]].concat();
    let flip = |i: usize| {
        let mut v = good.clone();
        v[i] ^= 0x01;
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("two chunks swapped", swap(&good)),
        ("truncated at a chunk boundary", truncated),
        ("a chunk appended", appended),
        ("a chunk spliced from another file", spliced_other),
        ("a chunk spliced from an older version", spliced_old),
        ("a bit flipped in the header's wrapped key", flip(40)),
        ("a bit flipped in the header's MAC", flip(payload - 20)),
        ("a bit flipped in the payload", flip(at(3) + 100)),
        ("a bit flipped in the last byte", flip(good.len() - 1)),
    ];
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let dest = out_dir.join("one.bin");
    let current_id = current.file_name().unwrap().to_str().unwrap().to_owned();
    for (what, bytes) in cases {
        // The server serves the changed blob consistently (its recorded size too).
        std::fs::write(&current, &bytes).unwrap();
        operator_sql(&data, &format!("UPDATE blobs SET size = {} WHERE blob_id = '{current_id}'", bytes.len()));
        let err = fails(&a, &["get", "one.bin", "-o", dest.to_str().unwrap()]);
        assert!(err.contains("doesn't match its signed manifest") || err.contains("integrity check"), "{what}: {err}");
        assert!(!dest.exists(), "{what}: an output file was written");
        no_leftovers(&out_dir);
    }
    // Served intact again, it opens.
    std::fs::write(&current, &good).unwrap();
    operator_sql(&data, &format!("UPDATE blobs SET size = {} WHERE blob_id = '{current_id}'", good.len()));
    ok(&a, &["get", "one.bin", "-o", dest.to_str().unwrap()]);
    assert!(same_file(&dest, &f1));
}

#[test]
fn a_server_that_changes_manifests_or_folder_state_is_caught() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    let drive = "drive:alice";
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"hello").unwrap();
    ok(&a, &["mkdir", "inbox"]);
    ok(&a, &["mkdir", "archive"]);
    let before = rows(&data, drive);
    ok(&a, &["put", file.to_str().unwrap(), "inbox/salary.txt"]);
    let salary = new_rows(&data, drive, &before)[0].clone();
    let before = rows(&data, drive);
    ok(&a, &["put", file.to_str().unwrap(), "inbox/holiday.txt"]);
    let holiday = new_rows(&data, drive, &before)[0].clone();
    // bob's drive, for a row to plant.
    ok(&b, &["put", file.to_str().unwrap(), "x.txt"]);
    let bobs_row = rows(&data, "drive:bob").into_values().next().unwrap();

    let good = rows(&data, drive);
    let restore = || {
        for (id, row) in &good {
            set_row(&data, drive, id, row);
        }
    };
    let ls_fails = |what: &str, expect: &str| {
        let err = fails(&a, &["ls", "inbox"]);
        assert!(err.contains(expect), "{what}: {err}");
    };

    // Two names swapped: each entry served with the other's row.
    set_row(&data, drive, &salary, &good[&holiday]);
    set_row(&data, drive, &holiday, &good[&salary]);
    ls_fails("names swapped", "isn't the one the signed state names");
    restore();

    // Size or time edited: any change to a sealed manifest.
    let mut edited = good[&salary].clone().into_bytes();
    let i = edited.len() / 2;
    edited[i] = if edited[i] == b'a' { b'b' } else { b'a' };
    set_row(&data, drive, &salary, std::str::from_utf8(&edited).unwrap());
    ls_fails("manifest edited", "isn't the one the signed state names");
    restore();

    // Hidden from the listing.
    operator_sql(&data, &format!("DELETE FROM space_rows WHERE space = '{drive}' AND entry_id = '{salary}'"));
    ls_fails("entry hidden", "hid the entry");
    operator_sql(&data, &format!("INSERT INTO space_rows (space, entry_id, row) VALUES ('{drive}', '{salary}', X'{}')", good[&salary]));

    // Planted: a row that the signed state doesn't list.
    operator_sql(&data, &format!("INSERT INTO space_rows (space, entry_id, row) VALUES ('{drive}', '{}', X'{bobs_row}')", "ab".repeat(16)));
    ls_fails("file planted", "planted");
    operator_sql(&data, &format!("DELETE FROM space_rows WHERE space = '{drive}' AND entry_id = '{}'", "ab".repeat(16)));
    ok(&a, &["ls", "inbox"]);

    // Moved: after alice moves salary.txt to archive, the server serves the row from
    // when it was in inbox.
    let state_before_move = operator_query(&data, &format!("SELECT version, state FROM space_states WHERE space = '{drive}'"))[0].clone();
    ok(&a, &["mv", "inbox/salary.txt", "archive"]);
    let moved = rows(&data, drive);
    set_row(&data, drive, &salary, &good[&salary]);
    ls_fails("entry moved back", "isn't the one the signed state names");
    set_row(&data, drive, &salary, &moved[&salary]);

    // An older folder state served again (state and rows as they were).
    operator_sql(
        &data,
        &format!(
            "UPDATE space_states SET version = {}, state = X'{}' WHERE space = '{drive}'",
            state_before_move[0], state_before_move[1]
        ),
    );
    set_row(&data, drive, &salary, &good[&salary]);
    ls_fails("older state", "older than version");
}

#[test]
fn a_key_the_server_substitutes_for_a_member_is_refused_when_sharing() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let proxy = Proxy::start(&server.url);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &proxy.url);
    register(&b, "bob", &proxy.url);
    let file = dir.path().join("plans.txt");
    std::fs::write(&file, b"for bob only").unwrap();
    ok(&a, &["put", file.to_str().unwrap()]);

    // The server answers for bob with a key of its own, consistently.
    answer_for_user_with_forged_keys(&proxy, "bob");
    let err = fails(&a, &["share", "plans.txt", "--with", "bob", "--new"]);
    assert!(err.contains("refused bob's device"), "{err}");
    // With the server honest again, sharing works and bob reads it.
    proxy.set(None);
    ok(&a, &["share", "plans.txt", "--with", "bob", "--new"]);
    let got = dir.path().join("got");
    ok(&b, &["get", "alice:plans.txt", "-o", got.to_str().unwrap()]);
    assert_eq!(std::fs::read(&got).unwrap(), b"for bob only");
}

#[test]
fn interrupted_uploads_and_downloads_continue_where_they_stopped() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let a = dir.path().join("a");
    register(&a, "alice", &server.url);
    let file = dir.path().join("video.mp4");
    make_file(&file, 48 << 20, 9);

    let spawn = |args: &[&str]| {
        std::process::Command::new(hush_bin())
            .arg("--home")
            .arg(&a)
            .args(args)
            .env("HUSH_PASSPHRASE", PASS)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let biggest_in = |d: &Path, ext: &str| -> u64 {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(ext))
                    .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let wait_for = |d: PathBuf, ext: &str, at_least: u64, child: &mut std::process::Child| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while biggest_in(&d, ext) < at_least {
            assert!(child.try_wait().unwrap().is_none(), "the transfer ended before it could be interrupted");
            assert!(std::time::Instant::now() < deadline, "the transfer made no progress");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    };

    // Upload: killed once the server holds at least 16 MiB of the 48.
    let mut put = spawn(&["put", file.to_str().unwrap(), "video.mp4", "--limit-rate", "8M"]);
    wait_for(data.join("uploads"), ".part", 16 << 20, &mut put);
    let out = ok(&a, &["put", file.to_str().unwrap(), "video.mp4"]);
    assert!(out.contains("continued an interrupted upload from"), "{out}");
    assert!(ok(&a, &["ls"]).contains("video.mp4"));

    // Download: killed once 16 MiB are in the home.
    let got = dir.path().join("got.mp4");
    let mut get = spawn(&["get", "video.mp4", "-o", got.to_str().unwrap(), "--limit-rate", "8M"]);
    wait_for(a.join("transfers"), ".part", 16 << 20, &mut get);
    assert!(!got.exists(), "nothing reaches the destination before it is verified");
    let out = ok(&a, &["get", "video.mp4", "-o", got.to_str().unwrap()]);
    assert!(out.contains("continued an interrupted download from"), "{out}");
    assert!(same_file(&file, &got));
}

#[test]
fn a_removed_member_cannot_open_files_added_after_and_late_members_open_earlier_ones() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    register(&c, "carol", &server.url);
    ok(&a, &["conversation", "create", "club", "--with", "bob"]);
    read(&b);
    let old = dir.path().join("old.txt");
    std::fs::write(&old, b"agenda for monday").unwrap();
    ok(&a, &["put", old.to_str().unwrap(), "club:"]);
    let got = dir.path().join("got");
    ok(&b, &["get", "club:old.txt", "-o", got.to_str().unwrap()]);
    assert_eq!(std::fs::read(&got).unwrap(), b"agenda for monday");

    // carol joins later and opens what was there before.
    ok(&a, &["conversation", "add", "club", "carol"]);
    read(&c);
    ok(&c, &["get", "club:old.txt", "-o", got.to_str().unwrap(), "--force"]);
    assert_eq!(std::fs::read(&got).unwrap(), b"agenda for monday");

    // bob is removed; alice adds a file afterwards.
    ok(&a, &["conversation", "remove", "club", "bob"]);
    read(&b);
    let new = dir.path().join("new.txt");
    std::fs::write(&new, b"the surprise party is for bob").unwrap();
    ok(&a, &["put", new.to_str().unwrap(), "club:"]);
    ok(&c, &["get", "club:new.txt", "-o", got.to_str().unwrap(), "--force"]);
    assert_eq!(std::fs::read(&got).unwrap(), b"the surprise party is for bob");

    // The server refuses bob; and even a server that lets him back in gives him nothing he
    // can open: the new entry is sealed with a key of an epoch bob is not part of.
    let err = fails(&b, &["get", "club:new.txt", "-o", got.to_str().unwrap(), "--force"]);
    assert!(err.contains("refused"), "{err}");
    let space = conv_space(&a, "club");
    let group = space.trim_start_matches("conv:");
    let bob_device = device_id(&b);
    operator_sql(&data, &format!("INSERT OR IGNORE INTO group_members (group_id, device_id) VALUES (X'{group}', '{bob_device}')"));
    let err = fails(&b, &["get", "club:new.txt", "-o", got.to_str().unwrap(), "--force"]);
    assert!(err.contains("space key this device doesn't hold"), "{err}");
    assert!(!contains(&all_bytes(&data), "surprise party"));
}

#[test]
fn export_writes_a_file_the_age_tool_opens() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let a = dir.path().join("a");
    register(&a, "alice", &server.url);
    let file = dir.path().join("thesis.pdf");
    make_file(&file, 3 * 65536 + 17, 5);
    ok(&a, &["put", file.to_str().unwrap()]);

    let key = dir.path().join("key.txt");
    let keygen = std::process::Command::new("age-keygen").arg("-o").arg(&key).output().expect("age-keygen (Debian package age) is installed");
    assert!(keygen.status.success());
    let recipient = std::process::Command::new("age-keygen").arg("-y").arg(&key).output().unwrap();
    let recipient = String::from_utf8(recipient.stdout).unwrap().trim().to_owned();
    let exported = dir.path().join("thesis.pdf.age");
    ok(&a, &["export", "thesis.pdf", "--age-recipient", &recipient, "-o", exported.to_str().unwrap()]);
    let opened = dir.path().join("opened.pdf");
    let out = std::process::Command::new("age").arg("-d").arg("-i").arg(&key).arg("-o").arg(&opened).arg(&exported).output().unwrap();
    assert!(out.status.success(), "age -d: {}", String::from_utf8_lossy(&out.stderr));
    assert!(same_file(&file, &opened));

    let err = fails(&a, &["export", "thesis.pdf", "--age-recipient", "age1notakey", "-o", exported.to_str().unwrap()]);
    assert!(err.contains("not an age recipient"), "{err}");
}

#[test]
fn quotas_and_size_limits_say_so_and_removing_frees_space() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, "127.0.0.1:0", &["--max-upload-bytes", "3000000", "--quota-bytes", "5000000"]);
    let a = dir.path().join("a");
    register(&a, "alice", &server.url);
    let (big, mid, mid2) = (dir.path().join("big"), dir.path().join("mid"), dir.path().join("mid2"));
    make_file(&big, 3_500_000, 1);
    make_file(&mid, 2_500_000, 2);
    make_file(&mid2, 2_500_000, 3);

    let err = fails(&a, &["put", big.to_str().unwrap()]);
    assert!(err.contains("larger than"), "{err}");
    ok(&a, &["put", mid.to_str().unwrap()]);
    let err = fails(&a, &["put", mid2.to_str().unwrap()]);
    assert!(err.contains("quota"), "{err}");
    let listing = ok(&a, &["ls"]);
    assert!(listing.contains("mid") && !listing.contains("mid2") && !listing.contains("big"), "{listing}");

    // Removing the file deletes its blob on the server; the space is free again.
    let blobs = || std::fs::read_dir(data.join("blobs")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(blobs(), 1);
    ok(&a, &["rm", "mid"]);
    assert_eq!(blobs(), 0, "the blob is gone from the server's disk");
    ok(&a, &["put", mid2.to_str().unwrap()]);

    // Bad input: one sentence, non-zero exit, nothing written.
    let err = fails(&a, &["put", dir.path().join("nope").to_str().unwrap()]);
    assert!(err.contains("can't read"), "{err}");
    let err = fails(&a, &["get", "nope", "-o", dir.path().join("o").to_str().unwrap()]);
    assert!(err.contains("no such file"), "{err}");
    assert!(!dir.path().join("o").exists());
    let err = fails(&a, &["ls", "nobody-here:"]);
    assert!(err.contains("no conversation named"), "{err}");
    let err = fails(&a, &["rm", "mid2/x"]);
    assert!(err.contains("no such file"), "{err}");
}

#[test]
fn removing_with_reencrypt_closes_the_files_that_were_already_there() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    register(&c, "carol", &server.url);
    ok(&a, &["conversation", "create", "club", "--with", "bob,carol"]);
    let doc = dir.path().join("minutes.txt");
    std::fs::write(&doc, b"what bob knew while he was a member").unwrap();
    ok(&a, &["put", doc.to_str().unwrap(), "club:"]);
    let got = dir.path().join("got");
    ok(&b, &["get", "club:minutes.txt", "-o", got.to_str().unwrap()]);
    let space = conv_space(&a, "club");
    let old_blob = operator_query(&data, &format!("SELECT blob_id FROM space_row_blobs WHERE space = '{space}'"))[0][0].clone();
    let old_file = blob_file(&data, &old_blob);

    let out = ok(&a, &["conversation", "remove", "club", "bob", "--reencrypt"]);
    assert!(out.contains("re-encrypted 1 file version"), "{out}");
    assert!(!old_file.exists(), "the blob bob could open is deleted");
    ok(&c, &["get", "club:minutes.txt", "-o", got.to_str().unwrap(), "--force"]);
    assert_eq!(std::fs::read(&got).unwrap(), b"what bob knew while he was a member");

    // Even a server that lets bob back in serves him entries sealed under a key he lacks.
    read(&b);
    let group = space.trim_start_matches("conv:");
    operator_sql(&data, &format!("INSERT OR IGNORE INTO group_members (group_id, device_id) VALUES (X'{group}', '{}')", device_id(&b)));
    let err = fails(&b, &["get", "club:minutes.txt", "-o", got.to_str().unwrap(), "--force"]);
    assert!(err.contains("space key this device doesn't hold"), "{err}");
}

#[test]
fn a_drive_state_signed_by_a_revoked_device_is_refused() {
    let dir = tempdir();
    let data_a = dir.path().join("data-a");
    let mut server_a = Server::start(&data_a, "127.0.0.1:0");
    let addr = server_a.addr.clone();
    let proxy = Proxy::start(&server_a.url);
    let (a1, a2) = (dir.path().join("a1"), dir.path().join("a2"));
    let phrase = register_with_phrase(&a1, "alice", &proxy.url);
    let out = recover(&a2, "alice", &proxy.url, &phrase);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f = dir.path().join("f.txt");
    std::fs::write(&f, b"one").unwrap();
    ok(&a1, &["put", f.to_str().unwrap(), "one.txt"]);

    // The server keeps a fork of itself from before the revocation, where the old device
    // still counts.
    server_a.kill9();
    drop(server_a);
    let data_b = dir.path().join("data-b");
    copy_dir(&data_a, &data_b);
    let _server_a = Server::start(&data_a, &addr);
    let server_b = Server::start(&data_b, "127.0.0.1:0");
    let old = device_id(&a1);
    ok(&a2, &["device", "revoke", &old]);

    // The revoked device writes to the fork; the server then serves that drive state to
    // the device that revoked it.
    let (fork, old_device) = (server_b.url.clone(), old.clone());
    proxy.route(Some(Arc::new(move |_m, p, device| {
        (device == Some(old_device.as_str()) || p.starts_with("/v1/spaces/")).then(|| fork.clone())
    })));
    for name in ["two.txt", "three.txt"] {
        ok(&a1, &["put", f.to_str().unwrap(), name]);
    }
    let err = fails(&a2, &["ls"]);
    assert!(err.contains("not a current member") && err.contains(&old), "{err}");
}
