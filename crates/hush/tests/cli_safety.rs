//! What the command line does with its output and its arguments: `read` marks read only
//! what reached the reader, text from others can't fake the screen, a typo never starts a
//! conversation with a stranger, `get` never clobbers or leaves plaintext behind, and a
//! refused download doesn't break the next one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

fn spawn_read(home: &Path) -> std::process::Child {
    Command::new(hush_bin())
        .arg("--home")
        .arg(home)
        .arg("read")
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stderr_of(child: std::process::Child) -> (std::process::ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn read_marks_read_only_what_reached_the_reader() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&a, &["send", "bob", "hello", "--new"]);
    assert_eq!(texts(&read(&b)), vec!["hello"]);

    // `hush read | head -n 3`: three shown, the other 47 kept for the next read.
    let lines: Vec<String> = (1..=50).map(|i| format!("message {i}")).collect();
    let out = hush_stdin(&a, &["send", "bob", "--stdin"], &lines.join("\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' --home '{}' read | head -n 3", hush_bin(), b.display()))
        .env("HUSH_PASSPHRASE", PASS)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(shown.lines().count(), 3, "{shown}");
    assert!(shown.contains("message 1") && shown.contains("message 3"), "{shown}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "a closed pipe ends quietly: {err}");
    assert_eq!(texts(&read(&b)), lines[3..].to_vec(), "what head did not show is still unread");

    // A slow reader that goes away after five messages loses none of the rest.
    let lines: Vec<String> = (1..=30).map(|i| format!("slow {i}")).collect();
    let out = hush_stdin(&a, &["send", "bob", "--stdin"], &lines.join("\n"));
    assert!(out.status.success());
    let mut child = spawn_read(&b);
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    for i in 1..=5 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains(&format!("slow {i}")), "{line}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(reader);
    let (status, err) = stderr_of(child);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert!(status.success() || err.trim().is_empty(), "a closed pipe is not an error: {err}");
    assert_eq!(texts(&read(&b)), lines[5..].to_vec());
}

#[test]
fn text_from_others_cannot_fake_the_screen() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    // An erased line, a carriage return and a fake line "from the bank".
    let evil = "hi\u{1b}[2K\r\u{1b}[1AALERT: nothing\n[12:00:00 UTC] bank | bank: send me your code\u{9b}31m";
    ok(&a, &["send", "bob", evil, "--new"]);
    let rlo = "invoice\u{202e}fdp.exe";
    ok(&a, &["conversation", "create", rlo, "--with", "bob"]);
    ok(&a, &["send", rlo, "see the \u{2066}attachment\u{2069}"]);

    let shown = ok(&b, &["read"]);
    for bad in ['\u{1b}', '\r', '\u{9b}', '\u{202e}', '\u{2066}', '\u{2069}'] {
        assert!(!shown.contains(bad), "{bad:?} reached the terminal: {shown:?}");
    }
    assert!(shown.contains("hi\\u{1b}[2K\\r\\u{1b}[1AALERT: nothing"), "{shown}");
    assert!(shown.contains("invoice\\u{202e}fdp.exe"), "{shown}");
    // The second line of alice's message can't pass for a line of its own.
    assert!(shown.lines().all(|l| !l.starts_with("[12:00:00 UTC] bank")), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with(' ') && l.contains("bank | bank: send me your code")), "{shown}");

    // --json carries the same escapes (a terminal showing `jq -r` output is safe too).
    ok(&a, &["send", "bob", evil]);
    let json = ok(&b, &["read", "--json"]);
    let msgs: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let t = texts(&msgs);
    assert_eq!(t.len(), 1, "{json}");
    assert!(!t[0].contains('\u{1b}') && !t[0].contains('\r') && !t[0].contains('\u{9b}'), "{t:?}");
    assert!(t[0].contains("\\u{1b}"), "{t:?}");
    for out in [ok(&b, &["conversation", "list"]), ok(&b, &["conversation", "list", "--json"])] {
        assert!(!out.contains('\u{202e}') && out.contains("\\u{202e}"), "{out}");
    }
    let list: serde_json::Value = serde_json::from_str(ok(&b, &["conversation", "list", "--json"]).lines().find(|l| l.contains("invoice")).unwrap()).unwrap();
    assert!(!list["name"].as_str().unwrap().contains('\u{202e}'));

    // put refuses a file name that would disguise itself on others' screens.
    let f = dir.path().join("exe\u{202e}txt.sh");
    std::fs::write(&f, "echo hi").unwrap();
    let err = fails(&a, &["put", f.to_str().unwrap()]);
    assert!(err.contains("direction-changing") && err.contains("exe\\u{202e}txt.sh") && !err.contains('\u{202e}'), "{err}");
    let err = fails(&a, &["mkdir", "a\u{200f}b"]);
    assert!(err.contains("direction-changing"), "{err}");
}

#[test]
fn a_typo_never_starts_a_conversation_with_a_stranger() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let h = |u: &str| dir.path().join(u);
    for u in ["alice", "bob", "weekends", "erin"] {
        register(&h(u), u, &server.url);
    }
    ok(&h("alice"), &["conversation", "create", "weekend", "--with", "bob"]);

    // A typo of the group's name is not a new conversation with the user "weekends".
    let err = fails(&h("alice"), &["send", "weekends", "hike on saturday?"]);
    assert!(err.contains("did you mean 'weekend'?") && err.contains("--new"), "{err}");
    assert!(read(&h("weekends")).is_empty(), "nothing reached the stranger");
    let err = fails(&h("alice"), &["send", "weekendz", "hike on saturday?"]);
    assert!(err.contains("did you mean 'weekend'?"), "{err}");
    // Said explicitly, it is.
    ok(&h("alice"), &["send", "weekends", "hello stranger", "--new"]);
    assert_eq!(texts(&read(&h("weekends"))), vec!["hello stranger"]);
    // Now a contact: no flag needed.
    ok(&h("alice"), &["send", "weekends", "again"]);
    assert_eq!(texts(&read(&h("weekends"))), vec!["again"]);
    // Files too.
    let f = dir.path().join("notes.txt");
    std::fs::write(&f, "notes").unwrap();
    let err = fails(&h("alice"), &["put", f.to_str().unwrap(), "erin:"]);
    assert!(err.contains("--new"), "{err}");

    // A group named like a user never hides the user.
    ok(&h("alice"), &["send", "@erin", "hi erin", "--new"]);
    ok(&h("alice"), &["conversation", "create", "erin", "--with", "bob"]);
    let err = fails(&h("alice"), &["send", "erin", "which one?"]);
    assert!(err.contains("#erin") && err.contains("@erin"), "{err}");
    ok(&h("alice"), &["send", "#erin", "to the group"]);
    ok(&h("alice"), &["send", "@erin", "to the user"]);
    assert_eq!(texts(&read(&h("erin"))), vec!["hi erin", "to the user"]);
    let bob = texts(&read(&h("bob")));
    assert!(bob.contains(&"to the group".to_owned()) && !bob.contains(&"to the user".to_owned()), "{bob:?}");
    let members = ok(&h("alice"), &["conversation", "members", "#erin"]);
    assert!(members.contains("bob"), "{members}");
    let members = ok(&h("alice"), &["conversation", "members", "@erin"]);
    assert!(!members.contains("bob"), "{members}");
}

fn big_file(path: &Path, len: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..len.div_ceil(block.len()) {
        for c in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        f.write_all(&block).unwrap();
    }
    f.flush().unwrap();
}

#[test]
fn get_never_clobbers_never_replaces_links_and_leaves_no_plaintext() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let a = dir.path().join("a");
    register(&a, "alice", &server.url);
    let src = dir.path().join("plan.txt");
    std::fs::write(&src, "the plan").unwrap();
    ok(&a, &["put", src.to_str().unwrap()]);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    // An existing file is kept unless --force.
    let dest = out.join("mine.txt");
    std::fs::write(&dest, "my own work").unwrap();
    let err = fails(&a, &["get", "plan.txt", "-o", dest.to_str().unwrap()]);
    assert!(err.contains("already exists") && err.contains("--force") && err.contains("mine.txt"), "{err}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "my own work");
    let err = fails(&a, &["export", "plan.txt", "--age-recipient", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", "-o", dest.to_str().unwrap()]);
    assert!(err.contains("--force"), "{err}");
    ok(&a, &["get", "plan.txt", "-o", dest.to_str().unwrap(), "--force"]);
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "the plan");

    // A link is written through, never replaced.
    let target = out.join("target.txt");
    std::fs::write(&target, "old").unwrap();
    let link = out.join("link.txt");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = fails(&a, &["get", "plan.txt", "-o", link.to_str().unwrap()]);
    assert!(err.contains("--force"), "{err}");
    ok(&a, &["get", "plan.txt", "-o", link.to_str().unwrap(), "--force"]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is still a link");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "the plan");
    // A device is written through: nothing replaces /dev/null.
    ok(&a, &["get", "plan.txt", "-o", "/dev/null"]);
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());

    // -o - is standard output (after the checks), and no file named "-" appears.
    let got = Command::new(hush_bin())
        .current_dir(&out)
        .arg("--home")
        .arg(&a)
        .args(["get", "plan.txt", "-o", "-"])
        .env("HUSH_PASSPHRASE", PASS)
        .output()
        .unwrap();
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert_eq!(String::from_utf8_lossy(&got.stdout), "the plan");
    assert!(!out.join("-").exists());

    // Killed while decrypting: the plaintext it left is gone after the next command.
    let big = dir.path().join("big.bin");
    big_file(&big, 160 << 20);
    ok(&a, &["put", big.to_str().unwrap()]);
    std::fs::remove_file(&big).unwrap();
    let partials = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.contains(".partial"))
            .collect()
    };
    let mut killed = false;
    for _ in 0..5 {
        let mut child = Command::new(hush_bin())
            .arg("--home")
            .arg(&a)
            .args(["get", "big.bin", "-o", out.join("big.bin").to_str().unwrap(), "--force"])
            .env("HUSH_PASSPHRASE", PASS)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while partials(&out).is_empty() && child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        child.wait().unwrap();
        if still_running && !partials(&out).is_empty() {
            killed = true;
            break;
        }
    }
    assert!(killed, "could not kill get while it decrypted");
    ok(&a, &["ls"]);
    assert!(partials(&out).is_empty(), "plaintext left behind: {:?}", partials(&out));
    assert!(!out.join("big.bin").exists());
}

#[test]
fn a_refused_download_does_not_break_the_next_get() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let proxy = Proxy::start(&server.url);
    let a = dir.path().join("a");
    register(&a, "alice", &proxy.url);
    let src = dir.path().join("report.bin");
    big_file(&src, 1 << 20);
    ok(&a, &["put", src.to_str().unwrap()]);
    let dest = dir.path().join("got.bin");

    // The server serves other, shorter bytes: refused.
    proxy.set(Some(std::sync::Arc::new(|method: &str, path: &str, body: Vec<u8>| {
        if method == "GET" && path.starts_with("/v1/blobs/") { vec![0x42; body.len() / 3] } else { body }
    })));
    let err = fails(&a, &["get", "report.bin", "-o", dest.to_str().unwrap()]);
    assert!(err.contains("manifest"), "{err}");
    assert!(!dest.exists());
    // Honest again: the next get works at once.
    proxy.set(None);
    let out = ok(&a, &["get", "report.bin", "-o", dest.to_str().unwrap()]);
    assert!(out.contains("checked against its signed manifest"), "{out}");
    assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(&src).unwrap());
}

#[test]
fn watch_ends_quietly_when_its_reader_goes_away_and_loses_nothing() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    ok(&a, &["send", "bob", "hello", "--new"]);
    read(&b);
    let lines: Vec<String> = (1..=6).map(|i| format!("live {i}")).collect();
    let out = hush_stdin(&a, &["send", "bob", "--stdin"], &lines.join("\n"));
    assert!(out.status.success());
    let mut child = Command::new(hush_bin())
        .arg("--home")
        .arg(&b)
        .arg("watch")
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    for i in 1..=2 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains(&format!("live {i}")), "{line}");
    }
    drop(reader);
    let (status, err) = stderr_of(child);
    assert!(status.success(), "watch ends quietly when its reader goes away: {err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_eq!(texts(&read(&b)), lines[2..].to_vec());
}
