//! Bad input: a clear sentence and a non-zero exit from the CLI; a 4xx with a JSON message
//! from the server; nothing stored; never a 500.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;

#[test]
fn the_cli_refuses_bad_input_with_one_sentence() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let a = dir.path().join("a");
    register(&a, "alice", &server.url);

    // The server refuses to speak plain HTTP off loopback without a TLS proxy in front.
    let out = std::process::Command::new(hush_bin())
        .args(["server", "--listen", "0.0.0.0:0", "--data"])
        .arg(dir.path().join("other"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--behind-tls-proxy"));
    let e = fails(&dir.path().join("z"), &["register", "zed", "--server", &server.url]);
    assert!(e.contains("recovery phrase") && e.contains("--skip-phrase-check"), "{e}");
    let e = fails(&dir.path().join("x"), &["register", "alice", "--server", &server.url, "--skip-phrase-check"]);
    assert!(e.contains("taken"), "{e}");
    let e = fails(&dir.path().join("y"), &["register", "Bad Name", "--server", &server.url, "--skip-phrase-check"]);
    assert!(e.contains("username"), "{e}");
    let e = fails(&a, &["register", "alice2", "--server", &server.url, "--skip-phrase-check"]);
    assert!(e.contains("already holds an account"), "{e}");
    let e = fails(&a, &["send", "nobody", "hello", "--new"]);
    assert!(e.contains("no user named nobody"), "{e}");
    // A mistake the person can fix exits with 2 (as a bad flag does), not 1 or 3.
    assert_eq!(hush(&a, &["send", "nobody", "hello", "--new"]).status.code(), Some(2));
    let e = fails(&a, &["conversation", "create", "g", "--with", "ghost"]);
    assert!(e.contains("no user named ghost"), "{e}");
    let e = fails(&dir.path().join("empty"), &["read"]);
    assert!(e.contains("no hush account"), "{e}");
    let e = fails(&a, &["send", "alice", "to myself"]);
    assert!(!e.is_empty());

    let out = std::process::Command::new(hush_bin())
        .arg("--home").arg(&a).args(["read"])
        .env("HUSH_PASSPHRASE", "wrong passphrase")
        .output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));

    let e = fails(&a, &["send", "bob"]);
    assert!(e.contains("text"), "{e}");
    // The server down: a clear sentence, not a panic.
    drop(server);
    let e = fails(&a, &["read"]);
    assert!(e.contains("can't reach the server"), "{e}");
}

#[test]
fn the_server_answers_bad_requests_with_4xx_and_a_message() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async {
        let http = http_client();
        let check = |status: u16, body: &str, want: u16, what: &str| {
            assert_eq!(status, want, "{what}: {body}");
            let e: hush_proto::ErrorBody = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: not a JSON error: {body}"));
            assert!(!e.message.is_empty(), "{what}");
        };
        // Wrong JSON, in a request signed like a real registration.
        let key = hush_core::identity::SecretKey::generate();
        let body = b"{\"username\": 5}";
        let signer = hush_client::api::Signer { device_id: "0011223344556677", key: &key };
        let mut req = http.post(format!("{}/v1/register", server.url)).header("content-type", "application/json").body(body.to_vec());
        for (k, v) in hush_client::api::Api::signed_headers(&signer, "POST", "/v1/register", body) {
            req = req.header(k, v);
        }
        let r = req.send().await.expect("send");
        let s = r.status().as_u16();
        check(s, &r.text().await.unwrap_or_default(), 400, "wrong json");
        // Not JSON at all.
        let r = http.post(format!("{}/v1/register", server.url)).body("\u{1}garbage").send().await.expect("send");
        let s = r.status().as_u16();
        assert!((400..500).contains(&s), "garbage: {s}");
        // Oversized: announce 3 MiB and see the answer before sending a byte of it.
        {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut sock = tokio::net::TcpStream::connect(&server.addr).await.expect("connect");
            sock.write_all(b"POST /v1/register HTTP/1.1\r\nHost: hush\r\nContent-Type: application/json\r\nContent-Length: 3145728\r\nConnection: close\r\n\r\n").await.expect("write");
            let mut answer = Vec::new();
            let _ = sock.read_to_end(&mut answer).await;
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.starts_with("HTTP/1.1 413"), "oversized: {answer}");
            let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
            assert!(body.contains("too_large"), "oversized: {answer}");
        }
        // Unsigned and badly signed requests.
        let r = http.get(format!("{}/v1/inbox", server.url)).send().await.expect("send");
        let s = r.status().as_u16();
        check(s, &r.text().await.unwrap_or_default(), 401, "unsigned");
        let r = http.get(format!("{}/v1/inbox", server.url))
            .header(hush_proto::HEADER_DEVICE, "0011223344556677")
            .header(hush_proto::HEADER_TIMESTAMP, hush_core::now_ms().to_string())
            .header(hush_proto::HEADER_NONCE, "00112233445566778899aabbccddeeff")
            .header(hush_proto::HEADER_SIGNATURE, "AAAA")
            .send().await.expect("send");
        let s = r.status().as_u16();
        check(s, &r.text().await.unwrap_or_default(), 401, "bad signature");
        // Unknown user, unknown route.
        let r = http.get(format!("{}/v1/nope", server.url)).send().await.expect("send");
        assert_eq!(r.status().as_u16(), 404);
        let r = http.get(format!("{}/health", server.url)).send().await.expect("send");
        assert_eq!(r.status().as_u16(), 200);
    });
    // Nothing was stored by any of it: a fresh registration of any name still works.
    let a = dir.path().join("a");
    register(&a, "alice", &server.url);
}
