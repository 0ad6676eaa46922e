//! `hush demo`, the main job: it shows the whole system and checks what it shows; `--ui`
//! leaves the people running in the app.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};

use common::hush_bin;

#[test]
fn the_demo_shows_chats_a_shared_file_a_safety_number_and_a_tampering_server_caught() {
    let out = Command::new(hush_bin()).arg("demo").env_remove("HUSH_PASSPHRASE").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "alice: Surprise party for Carol after the hike!",
        "bob's bytes equal alice's",
        "they match",
        "caught: ",
        "none of them was found: the server stored only ciphertext",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // carol, removed, never sees the message about her party.
    let carol_part = text.split("--- what carol sees ---").last().unwrap();
    assert!(!carol_part.split("==").next().unwrap().contains("Surprise"), "{text}");
}

#[test]
fn the_demo_with_ui_prints_one_working_address_per_person() {
    let mut child = Command::new(hush_bin()).args(["demo", "--ui"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut urls = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        for who in ["alice", "bob", "carol"] {
            if let Some(rest) = line.strip_prefix(who)
                && let Some(url) = rest.trim().strip_prefix("http://")
            {
                urls.push((who, url.to_owned()));
            }
        }
        if urls.len() == 3 {
            break;
        }
    }
    assert_eq!(urls.len(), 3, "one address per person");
    for (who, url) in &urls {
        let (addr, path) = url.split_once('/').unwrap();
        let get = |path: &str, cookie: &str| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let first = get(&format!("/{path}"), "");
        assert!(first.starts_with("HTTP/1.1 303"), "{first}");
        let cookie = first.lines().find_map(|l| l.strip_prefix("set-cookie: ")).unwrap().split(';').next().unwrap().to_owned();
        let status = get("/api/status", &cookie);
        assert!(status.contains("\"open\"") && status.contains(&format!("\"username\":\"{who}\"")), "{status}");
        let convs = get("/api/conversations", &cookie);
        assert!(convs.contains("weekend"), "{who} sees the group: {convs}");
    }
    let _ = child.kill();
    let _ = child.wait();
}
