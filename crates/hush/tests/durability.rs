//! A message the server acknowledged survives `kill -9`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;

#[test]
fn a_thousand_acknowledged_messages_survive_kill_9_and_arrive_once() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr.clone();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    let lines: Vec<String> = (0..1000).map(|i| format!("durable message {i:04}")).collect();
    let out = hush_stdin(&a, &["send", "bob", "--stdin", "--new"], &lines.join("\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Every one was acknowledged; now pull the plug.
    server.kill9();
    drop(server);
    let _server = Server::start(&data, &addr);
    let got = texts(&read(&b));
    assert_eq!(got.len(), 1000, "all arrive");
    assert_eq!(got, lines, "each exactly once, in order");
    assert!(read(&b).is_empty());
}
