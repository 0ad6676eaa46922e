//! A hostile server and a hostile member against spaces (a conversation's shared folder and
//! the personal drive), through the real binary and a real server:
//! - a space forked two or more versions ahead of the version a device saw last is refused
//!   (the whole chain of signed states in between is checked), for a conversation and for
//!   the drive;
//! - a row whose author is not the user whose device signed it is shown as such.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;
use std::path::Path;
use std::sync::Arc;

fn tohex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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

/// A server whose data directory is copied while stopped: `A` keeps the original address
/// (behind the proxy), `B` is the fork, started on another port.
struct Forked {
    _a: Server,
    b: Server,
}

fn fork_server(a: &mut Server, dir: &Path) -> Forked {
    let (addr, data_a) = (a.addr.clone(), a.data.clone());
    a.kill9();
    let data_b = dir.join("data-b");
    copy_dir(&data_a, &data_b);
    let a2 = Server::start(&data_a, &addr);
    let b = Server::start(&data_b, "127.0.0.1:0");
    Forked { _a: a2, b }
}

/// Sends one device's file requests (spaces, uploads, blobs) to `url`.
fn route_files_of(proxy: &Proxy, device: &str, url: &str) {
    let (device, url) = (device.to_owned(), url.to_owned());
    proxy.route(Some(Arc::new(move |_m, p, d| {
        let files = p.starts_with("/v1/spaces/") || p.starts_with("/v1/uploads") || p.starts_with("/v1/blobs/");
        (files && d == Some(device.as_str())).then(|| url.clone())
    })));
}

#[test]
fn a_conversation_space_forked_two_versions_ahead_is_refused() {
    let dir = tempdir();
    let data = dir.path().join("data-a");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let proxy = Proxy::start(&server.url);
    let (a, b) = (dir.path().join("alice"), dir.path().join("bob"));
    register(&a, "alice", &proxy.url);
    register(&b, "bob", &proxy.url);
    ok(&a, &["conversation", "create", "club", "--with", "bob"]);
    read(&b);
    let f = dir.path().join("f.txt");
    std::fs::write(&f, b"one").unwrap();
    ok(&a, &["put", f.to_str().unwrap(), "club:first.txt"]);
    assert!(ok(&b, &["ls", "club:"]).contains("first.txt"));

    let forked = fork_server(&mut server, dir.path());
    // On the fork, alice writes three versions; the real server never sees them.
    route_files_of(&proxy, &device_id(&a), &forked.b.url);
    for name in ["g1.txt", "g2.txt", "g3.txt"] {
        ok(&a, &["put", f.to_str().unwrap(), &format!("club:{name}")]);
    }
    proxy.route(None);
    // On the real server, bob writes one version and sees it.
    ok(&b, &["put", f.to_str().unwrap(), "club:only-here.txt"]);
    let seen = ok(&b, &["ls", "club:"]);
    assert!(seen.contains("only-here.txt"), "{seen}");

    // The server now serves bob the fork: two versions past the one he saw, on a branch that
    // never had it (only-here.txt would silently disappear).
    route_files_of(&proxy, &device_id(&b), &forked.b.url);
    let err = fails(&b, &["ls", "club:"]);
    assert!(
        err.contains("the server's copy of club's folder history does not continue the version this device saw last (version 2): the server forked or rewrote it"),
        "{err}"
    );
    // Scripts can tell an alert from a mistake: the server's misbehaviour exits with 3.
    assert_eq!(hush(&b, &["ls", "club:"]).status.code(), Some(3));
    // And the honest server is still accepted.
    proxy.route(None);
    assert!(ok(&b, &["ls", "club:"]).contains("only-here.txt"));
}

#[test]
fn a_drive_forked_two_versions_ahead_is_refused() {
    let dir = tempdir();
    let data = dir.path().join("data-a");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let proxy = Proxy::start(&server.url);
    let (a1, a2) = (dir.path().join("a1"), dir.path().join("a2"));
    let phrase = register_with_phrase(&a1, "alice", &proxy.url);
    let out = recover(&a2, "alice", &proxy.url, &phrase);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f = dir.path().join("f.txt");
    std::fs::write(&f, b"one").unwrap();
    ok(&a1, &["put", f.to_str().unwrap(), "first.txt"]);
    assert!(ok(&a2, &["ls"]).contains("first.txt"));

    let forked = fork_server(&mut server, dir.path());
    route_files_of(&proxy, &device_id(&a1), &forked.b.url);
    for name in ["g1.txt", "g2.txt", "g3.txt"] {
        ok(&a1, &["put", f.to_str().unwrap(), name]);
    }
    proxy.route(None);
    ok(&a2, &["put", f.to_str().unwrap(), "only-here.txt"]);
    assert!(ok(&a2, &["ls"]).contains("only-here.txt"));

    route_files_of(&proxy, &device_id(&a2), &forked.b.url);
    let err = fails(&a2, &["ls"]);
    assert!(
        err.contains("the server's copy of your drive's history does not continue the version this device saw last (version 2): the server forked or rewrote it"),
        "{err}"
    );
}

#[test]
fn a_row_claiming_another_author_is_shown_with_its_signer() {
    use hush_core::files::{SealedRow, SignedState, StateBody, sha256_hex};
    use hush_core::identity::{DeviceCertificate, SecretKey};

    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let (a, b) = (dir.path().join("alice"), dir.path().join("bob"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&a, &["conversation", "create", "club", "--with", "bob"]);
    read(&b);
    let f = dir.path().join("f.txt");
    std::fs::write(&f, b"what bob wrote").unwrap();
    ok(&b, &["put", f.to_str().unwrap(), "club:confession.txt"]);
    let honest = ok(&a, &["ls", "club:"]);
    assert!(honest.contains("confession.txt") && honest.contains("bob") && !honest.contains("alice"), "{honest}");

    // bob, a member with a modified client, re-signs his row claiming alice wrote it, and
    // a new state over it (what his own POST would store).
    let space = conv_space(&b, "club");
    let group = space.trim_start_matches("conv:").to_owned();
    let (state, _) = hush_client::state::Home::lock(&b).unwrap().load(PASS.as_bytes()).unwrap();
    let device = SecretKey::from_bytes(&state.device_secret.0).unwrap();
    let cert = DeviceCertificate::decode_and_verify(&state.certificate).unwrap();
    let keys = state.space_keys.get(&group).cloned().unwrap();
    let rows = operator_query(&data, &format!("SELECT entry_id, row FROM space_rows WHERE space = '{space}'"));
    let (entry_id, row_hex) = (rows[0][0].clone(), rows[0][1].clone());
    let row = unhex(&row_hex);
    let opened = SealedRow::open(&space, &entry_id, &row, &|id| keys.get(&id).cloned()).unwrap();
    let mut manifest = opened.manifest;
    manifest.versions.last_mut().unwrap().author = "alice".into();
    let forged = SealedRow::seal(&space, &manifest, opened.key_id, &keys[&opened.key_id], &device, &cert).unwrap();
    let cur = operator_query(&data, &format!("SELECT version, state FROM space_states WHERE space = '{space}'"));
    let version: u64 = cur[0][0].parse().unwrap();
    let body = StateBody {
        space: space.clone(),
        version: version + 1,
        previous: sha256_hex(&unhex(&cur[0][1])),
        entries: [(entry_id.clone(), sha256_hex(&forged))].into(),
        written_at: hush_core::now_ms(),
    };
    let signed = SignedState::sign(&body, &device, &cert).unwrap();
    operator_sql(
        &data,
        &format!(
            "UPDATE space_rows SET row = X'{}' WHERE space = '{space}' AND entry_id = '{entry_id}';
             UPDATE space_states SET version = {}, state = X'{}' WHERE space = '{space}';
             INSERT INTO space_state_history (space, version, state) VALUES ('{space}', {}, X'{}');",
            tohex(&forged),
            version + 1,
            tohex(&signed),
            version + 1,
            tohex(&signed)
        ),
    );
    let out = ok(&a, &["ls", "club:"]);
    assert!(out.contains("confession.txt") && out.contains("alice, as claimed by bob"), "{out}");
    let json = ok(&a, &["ls", "club:", "--json"]);
    let items: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(items[0]["author"], "alice");
    assert_eq!(items[0]["signed_by"], "bob");
}
