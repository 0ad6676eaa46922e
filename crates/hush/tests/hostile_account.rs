//! Own-account monitoring without false alarms, through the real binary and a real server:
//! a whole account life (register, link five devices, revoke two, change a passphrase,
//! recover by phrase and by guardians, talk in three conversations) raises no ALERT on
//! any device; a device the server injects into the account's directory entry raises
//! exactly one on each of the account's devices, and a swapped identity key one more.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NEW_PASS: &str = "another passphrase for a while";

/// Everything every command printed, by home (stdout and stderr).
struct Life {
    dir: tempfile::TempDir,
    log: RefCell<Vec<(PathBuf, String)>>,
}

impl Life {
    fn home(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn record(&self, home: &Path, out: &Output) {
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        self.log.borrow_mut().push((home.to_owned(), text));
    }

    #[track_caller]
    fn ok_with(&self, home: &Path, pass: &str, new_pass: Option<&str>, args: &[&str]) -> String {
        let mut cmd = Command::new(hush_bin());
        cmd.arg("--home").arg(home).args(args).env("HUSH_PASSPHRASE", pass);
        if let Some(n) = new_pass {
            cmd.env("HUSH_NEW_PASSPHRASE", n);
        }
        let out = cmd.output().expect("run hush");
        self.record(home, &out);
        assert!(
            out.status.success(),
            "hush {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[track_caller]
    fn ok(&self, home: &Path, args: &[&str]) -> String {
        self.ok_with(home, PASS, None, args)
    }

    /// `read --json` on `home`: the ALERT lines it showed (and every line is logged).
    #[track_caller]
    fn alerts(&self, home: &Path) -> Vec<String> {
        self.ok(home, &["read", "--json"])
            .lines()
            .filter(|l| l.contains("ALERT"))
            .map(str::to_owned)
            .collect()
    }

    /// Every ALERT line in everything printed so far.
    fn all_alerts(&self) -> Vec<(PathBuf, String)> {
        self.log
            .borrow()
            .iter()
            .flat_map(|(h, t)| t.lines().filter(|l| l.contains("ALERT")).map(|l| (h.clone(), l.to_owned())).collect::<Vec<_>>())
            .collect()
    }

    /// Links a new device `new` to alice's account, approved on `approver`.
    fn link(&self, new: &Path, approver: &Path, url: &str) {
        let mut child = Command::new(hush_bin())
            .arg("--home")
            .arg(new)
            .args(["device", "link", "alice", "--server", url])
            .env("HUSH_PASSPHRASE", PASS)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let mut seen = String::new();
        let code = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                seen.push_str(&l);
                seen.push('\n');
                l.trim().strip_prefix("hush device approve ").map(str::to_owned)
            })
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let rest = std::thread::spawn(move || {
            let mut s: String = lines.map_while(Result::ok).map(|l| l + "\n").collect();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
            s
        });
        self.ok(approver, &["device", "approve", &code]);
        assert!(child.wait().unwrap().success());
        seen.push_str(&rest.join().unwrap());
        self.log.borrow_mut().push((new.to_owned(), seen));
    }

    /// Recovers alice's account on `new` with her guardians `guardians`.
    fn recover_with_guardians(&self, new: &Path, url: &str, guardians: &[&Path]) {
        let mut child = Command::new(hush_bin())
            .arg("--home")
            .arg(new)
            .args(["recover", "alice", "--server", url, "--with-guardians", "--wait", "60"])
            .env("HUSH_PASSPHRASE", PASS)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let mut seen = String::new();
        let code = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                seen.push_str(&l);
                seen.push('\n');
                l.trim().strip_prefix("hush recovery approve alice ").map(str::to_owned)
            })
            .expect("a code");
        let mut stderr = child.stderr.take().unwrap();
        let rest = std::thread::spawn(move || {
            let mut s: String = lines.map_while(Result::ok).map(|l| l + "\n").collect();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
            s
        });
        for g in guardians {
            self.ok(g, &["recovery", "approve", "alice", &code]);
        }
        let status = child.wait().unwrap();
        seen.push_str(&rest.join().unwrap());
        assert!(status.success(), "{seen}");
        self.log.borrow_mut().push((new.to_owned(), seen));
    }
}

/// alice's devices still in use at the end of the life.
const LIVE: [&str; 6] = ["a1", "a2", "a3", "a6", "r1", "r2"];

/// The account life up to the talking: returns the server (running).
fn devices_part(life: &Life, data: &Path) -> Server {
    let server = Server::start(data, "127.0.0.1:0");
    let url = server.url.clone();
    let h = |n: &str| life.home(n);

    // Register alice (keeping her phrase), bob and carol; three conversations.
    let out = life.ok(&h("a1"), &["register", "alice", "--server", &url, "--skip-phrase-check"]);
    let phrase: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit()))
        .flat_map(|l| l.split_whitespace().filter(|w| !w.ends_with('.')))
        .collect();
    assert_eq!(phrase.len(), 24, "{out}");
    let phrase = phrase.join(" ");
    life.ok(&h("bob"), &["register", "bob", "--server", &url, "--skip-phrase-check"]);
    life.ok(&h("carol"), &["register", "carol", "--server", &url, "--skip-phrase-check"]);
    life.ok(&h("a1"), &["send", "--new", "bob", "hi bob"]);
    life.ok(&h("a1"), &["send", "--new", "carol", "hi carol"]);
    life.ok(&h("a1"), &["conversation", "create", "club", "--with", "bob,carol"]);
    life.ok(&h("bob"), &["read"]);
    life.ok(&h("carol"), &["read"]);

    // Five more devices, approved by several of hers, with and without syncs between.
    life.link(&h("a2"), &h("a1"), &url);
    life.link(&h("a3"), &h("a2"), &url);
    life.ok(&h("a1"), &["read"]);
    life.link(&h("a4"), &h("a1"), &url);
    life.link(&h("a5"), &h("a3"), &url);
    life.link(&h("a6"), &h("a1"), &url);
    life.ok(&h("a2"), &["read"]);

    // Two revoked, by two different devices; a4 and a5 never synced in between.
    let a4 = device_id(&h("a4"));
    let a5 = device_id(&h("a5"));
    life.ok(&h("a1"), &["device", "revoke", &a4]);
    life.ok(&h("a2"), &["device", "revoke", &a5]);
    life.ok(&h("bob"), &["read"]);
    life.ok(&h("carol"), &["read"]);

    // A passphrase change on a6 (and back).
    life.ok_with(&h("a6"), PASS, Some(NEW_PASS), &["passphrase"]);
    life.ok_with(&h("a6"), NEW_PASS, None, &["read"]);
    life.ok_with(&h("a6"), NEW_PASS, Some(PASS), &["passphrase"]);

    // Guardians, then a recovery by phrase and one by guardians.
    life.ok(&h("a3"), &["recovery", "guardians", "set", "bob", "carol", "--threshold", "2"]);
    life.ok(&h("bob"), &["read"]);
    life.ok(&h("carol"), &["read"]);
    let out = recover(&h("r1"), "alice", &url, &phrase);
    life.record(&h("r1"), &out);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    life.recover_with_guardians(&h("r2"), &url, &[&h("bob"), &h("carol")]);
    life.ok(&h("bob"), &["read"]);
    life.ok(&h("carol"), &["read"]);
    server
}

/// Everybody talks in the three conversations.
fn talking_part(life: &Life) {
    let h = |n: &str| life.home(n);
    for d in LIVE {
        life.ok(&h(d), &["read", "--json"]);
    }
    for (i, d) in LIVE.iter().enumerate() {
        let to = ["bob", "carol", "club"][i % 3];
        life.ok(&h(d), &["send", "--new", to, &format!("from {d}")]);
    }
    life.ok(&h("bob"), &["send", "alice", "hello all of you"]);
    life.ok(&h("carol"), &["send", "club", "club news"]);
    life.ok(&h("bob"), &["read", "--json"]);
    life.ok(&h("carol"), &["read", "--json"]);
}

fn new_life() -> Life {
    Life { dir: tempdir(), log: RefCell::new(Vec::new()) }
}

#[test]
fn a_whole_account_life_raises_no_alert() {
    let life = new_life();
    let data = life.home("data");
    let _server = devices_part(&life, &data);
    talking_part(&life);
    for d in LIVE {
        assert!(life.alerts(&life.home(d)).is_empty(), "{d}");
    }
    // The revoked devices are shut out, without an ALERT either.
    for d in ["a4", "a5"] {
        let out = hush(&life.home(d), &["read", "--json"]);
        life.record(&life.home(d), &out);
        assert!(!out.status.success());
    }
    let alerts = life.all_alerts();
    assert!(alerts.is_empty(), "no ALERT for anything alice did herself: {alerts:?}");
}

#[test]
fn an_injected_device_raises_one_alert_per_device_and_a_swapped_identity_key_one_more() {
    use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
    let life = new_life();
    let data = life.home("data");
    let mut server = devices_part(&life, &data);
    let addr = server.addr.clone();
    talking_part(&life);
    assert!(life.all_alerts().is_empty(), "{:?}", life.all_alerts());

    // The operator adds a device of its own to alice's entry, with a certificate signed by
    // a key of its own (it can't sign with alice's identity key), and publishes it.
    server.kill9();
    drop(server);
    let forged = SecretKey::generate();
    let key = SecretKey::generate();
    let id = new_device_id();
    let cert = DeviceCertificate::issue(&forged, "alice", &id, key.public());
    let hexs = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    operator_sql(&data, &format!(
        "INSERT INTO devices (device_id, username, public_key, certificate, created_at) \
         VALUES ('{id}', 'alice', X'{}', X'{}', 1); \
         INSERT OR IGNORE INTO kt_pending (username) VALUES ('alice');",
        hexs(&key.public().0),
        hexs(&cert.encode())
    ));
    let mut server = Server::start(&data, &addr);

    // Every device of alice syncs three times; sending to her is refused now (her
    // directory entry lists a device no key of hers certified), in a sentence, not an ALERT.
    for d in LIVE {
        for _ in 0..3 {
            life.alerts(&life.home(d));
        }
    }
    for (home, to) in [("a1", "bob"), ("bob", "alice")] {
        let out = hush(&life.home(home), &["send", to, "still there?"]);
        life.record(&life.home(home), &out);
    }
    for d in LIVE {
        let home = life.home(d);
        let mine: Vec<String> = life.all_alerts().into_iter().filter(|(h, _)| *h == home).map(|(_, l)| l).collect();
        assert_eq!(mine.len(), 1, "{d}: exactly one ALERT for the injected device: {mine:?}");
        assert!(mine[0].contains("device you did not add") && mine[0].contains(&id), "{mine:?}");
    }
    let total = life.all_alerts().len();
    assert_eq!(total, LIVE.len(), "{:?}", life.all_alerts());

    // Then the server swaps alice's identity key.
    server.kill9();
    drop(server);
    let other = SecretKey::generate().public();
    operator_sql(&data, &format!(
        "UPDATE users SET identity_key = X'{}' WHERE username = 'alice'; \
         INSERT OR IGNORE INTO kt_pending (username) VALUES ('alice');",
        hexs(&other.0)
    ));
    let _server = Server::start(&data, &addr);
    for d in LIVE {
        let home = life.home(d);
        for _ in 0..3 {
            let out = hush(&home, &["read", "--json"]);
            life.record(&home, &out);
        }
        let mine: Vec<String> = life.all_alerts().into_iter().filter(|(h, _)| *h == home).map(|(_, l)| l).collect();
        assert_eq!(mine.len(), 2, "{d}: one more ALERT for the swapped identity key: {mine:?}");
        assert!(mine[1].contains("identity key that is not yours"), "{mine:?}");
    }
    assert_eq!(life.all_alerts().len(), 2 * LIVE.len(), "{:?}", life.all_alerts());
}

/// Waits until the server published every pending change of its key directory.
fn wait_published(data: &Path) {
    for _ in 0..100 {
        if operator_query(data, "SELECT count(*) FROM kt_pending")[0][0] == "0" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("the key directory did not publish");
}

#[test]
fn a_revoked_device_brought_back_or_a_device_listed_then_hidden_raises_one_alert_each() {
    use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
    let life = new_life();
    let data = life.home("data");
    let fast = ["--kt-publish-interval-secs", "1"];
    let mut server = Server::start_with(&data, "127.0.0.1:0", &fast);
    let (addr, url) = (server.addr.clone(), server.url.clone());
    let (a1, a2) = (life.home("a1"), life.home("a2"));
    life.ok(&a1, &["register", "alice", "--server", &url, "--skip-phrase-check"]);
    life.link(&a2, &a1, &url);
    let a2_id = device_id(&a2);
    life.ok(&a1, &["device", "revoke", &a2_id]);
    assert!(life.alerts(&a1).is_empty());

    // The operator brings the revoked device back into alice's entry.
    server.kill9();
    drop(server);
    operator_sql(&data, &format!(
        "UPDATE devices SET revoked_at = NULL WHERE device_id = '{a2_id}'; \
         INSERT OR IGNORE INTO kt_pending (username) VALUES ('alice');"
    ));
    server = Server::start_with(&data, &addr, &fast);
    wait_published(&data);
    let got = life.alerts(&a1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains(&format!("your removed device {a2_id}")), "{got:?}");
    assert!(life.alerts(&a1).is_empty(), "raised once");

    // Then it lists a device of its own, publishes, and takes it out again before alice
    // looks: the directory's history keeps the version nobody can back with a certificate.
    server.kill9();
    drop(server);
    let key = SecretKey::generate();
    let id = new_device_id();
    let cert = DeviceCertificate::issue(&SecretKey::generate(), "alice", &id, key.public());
    let hexs = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    operator_sql(&data, &format!(
        "INSERT INTO devices (device_id, username, public_key, certificate, created_at) \
         VALUES ('{id}', 'alice', X'{}', X'{}', 1); \
         INSERT OR IGNORE INTO kt_pending (username) VALUES ('alice');",
        hexs(&key.public().0),
        hexs(&cert.encode())
    ));
    server = Server::start_with(&data, &addr, &fast);
    wait_published(&data);
    server.kill9();
    drop(server);
    operator_sql(&data, &format!(
        "DELETE FROM devices WHERE device_id = '{id}'; \
         INSERT OR IGNORE INTO kt_pending (username) VALUES ('alice');"
    ));
    let _server = Server::start_with(&data, &addr, &fast);
    wait_published(&data);
    let got = life.alerts(&a1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("device you did not add") && got[0].contains("no certificate"), "{got:?}");
    assert!(life.alerts(&a1).is_empty(), "raised once");
}
