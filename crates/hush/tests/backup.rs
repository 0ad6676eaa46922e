//! `hush server backup` and `hush server restore`: a backup taken while people chat and
//! share files, the data directory wiped, the backup restored, and the clients — which
//! saw key-directory epochs published after the backup — keep working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;

use std::process::Command;

fn server_cmd(args: &[&str]) -> std::process::Output {
    Command::new(hush_bin()).arg("server").args(args).output().expect("run hush server")
}

#[test]
fn a_backup_taken_while_people_chat_restores_and_nobody_is_bricked() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start_with(&data, "127.0.0.1:0", &["--kt-publish-interval-secs", "1"]);
    let addr = server.addr.clone();
    let (a, b, c, e) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"), dir.path().join("e"));
    for (h, u) in [(&a, "alice"), (&b, "bob"), (&c, "carol"), (&e, "erin")] {
        register(h, u, &server.url);
    }
    ok(&a, &["conversation", "create", "trio", "--with", "bob,carol"]);
    ok(&a, &["send", "trio", "before the backup, from alice"]);
    assert_eq!(texts(&read(&b)), vec!["before the backup, from alice"]);
    // A file shared in the conversation and one in alice's drive.
    let plans = dir.path().join("plans.txt");
    std::fs::write(&plans, "the plans, version one").unwrap();
    ok(&a, &["put", plans.to_str().unwrap(), "trio:plans.txt"]);
    ok(&a, &["put", plans.to_str().unwrap(), "plans.txt"]);
    // Acknowledged by the server, not read by erin until after the restore: the backup
    // must hold it.
    ok(&a, &["send", "erin", "acknowledged before the backup", "--new"]);

    // The backup runs while bob keeps talking.
    let talk_home = b.clone();
    let talker = std::thread::spawn(move || {
        let lines: Vec<String> = (0..20).map(|i| format!("during the backup {i:02}")).collect();
        let out = hush_stdin(&talk_home, &["send", "trio", "--stdin"], &lines.join("\n"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    });
    let backup = dir.path().join("backup-1");
    let out = server_cmd(&["backup", backup.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "backup: {}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("backup written to") && said.contains("4 accounts"), "{said}");
    talker.join().unwrap();
    // A second backup into the same place is refused, the first left as it was.
    let again = server_cmd(&["backup", backup.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // After the backup: dave registers (the key directory moves on, and alice and bob see
    // the new epochs), the conversation is renamed (its MLS epoch moves on), a message.
    let d = dir.path().join("d");
    register(&d, "dave", &server.url);
    ok(&a, &["send", "dave", "hello dave", "--new"]);
    ok(&a, &["conversation", "rename", "trio", "team"]);
    ok(&a, &["send", "team", "after the backup"]);
    for h in [&b, &c] {
        let got = texts(&read(h));
        assert!(got.contains(&"after the backup".to_owned()), "{got:?}");
    }

    // The disk dies: the data directory is gone. The backup comes back.
    server.kill9();
    drop(server);
    std::fs::remove_dir_all(&data).unwrap();
    let out = server_cmd(&["restore", backup.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "restore: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("restored the backup"));
    // Restoring over a data directory in use is refused.
    let over = server_cmd(&["restore", backup.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(!over.status.success());
    assert!(String::from_utf8_lossy(&over.stderr).contains("is not empty"), "{}", String::from_utf8_lossy(&over.stderr));
    let _server = Server::start_with(&data, &addr, &["--kt-publish-interval-secs", "1"]);

    // Alice saw directory epochs the restored server no longer has: she is told, checks,
    // and goes on; dave is named as not on the restored server.
    let got = read(&a);
    let warn = warnings(&got).join("\n");
    assert!(warn.contains("restored from a backup"), "{warn}");
    assert!(warn.contains("every contact was checked again"), "{warn}");
    assert!(warn.contains("dave"), "dave is gone: {warn}");
    assert!(!warn.contains("rolled back"), "{warn}");
    assert!(!warn.contains("ALERT"), "nothing changed for alice's contacts: {warn}");

    // Erin gets what the server acknowledged before the backup, once.
    let erin = read(&e);
    assert_eq!(texts(&erin), vec!["acknowledged before the backup"]);
    // Carol read everything before the wipe: nothing comes back twice.
    let carol = read(&c);
    assert!(texts(&carol).is_empty(), "{carol:?}");
    assert!(warnings(&carol).join("\n").contains("restored from a backup"));

    // Everyone keeps talking in the conversation, including a new commit (the server's
    // copy of the conversation is one epoch behind its members).
    ok(&a, &["send", "team", "after the restore, from alice"]);
    ok(&c, &["send", "team", "after the restore, from carol"]);
    assert_eq!(texts(&read(&b)), vec!["after the restore, from alice", "after the restore, from carol"]);
    ok(&b, &["conversation", "rename", "team", "crew"]);
    ok(&b, &["send", "crew", "renamed after the restore"]);
    for h in [&a, &c] {
        let got = texts(&read(h));
        assert!(got.contains(&"renamed after the restore".to_owned()), "{got:?}");
    }

    // Files stored before the backup open.
    for (home, from) in [(&a, "plans.txt"), (&c, "crew:plans.txt"), (&b, "crew:plans.txt")] {
        let out_file = dir.path().join(format!("got-{}", home.file_name().unwrap().to_string_lossy()));
        ok(home, &["get", from, "-o", out_file.to_str().unwrap(), "--force"]);
        assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "the plans, version one");
    }
    // New ones too, and a new conversation (its Welcome uses a fresh KeyPackage).
    std::fs::write(&plans, "the plans, version two").unwrap();
    ok(&c, &["put", plans.to_str().unwrap(), "crew:plans.txt"]);
    ok(&b, &["conversation", "create", "pair", "--with", "carol"]);
    ok(&b, &["send", "pair", "a new conversation"]);
    assert!(texts(&read(&c)).contains(&"a new conversation".to_owned()));

    // Dave's account was made after the backup: the restored server does not know it.
    let e = fails(&a, &["send", "dave", "are you there?"]);
    assert!(e.contains("dave"), "{e}");
}

#[test]
fn backup_and_restore_refuse_bad_input_in_one_sentence() {
    let dir = tempdir();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = server_cmd(&["backup", dir.path().join("b").to_str().unwrap(), "--data", empty.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no hush database"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!dir.path().join("b").exists(), "nothing half-written");

    let out = server_cmd(&["restore", empty.to_str().unwrap(), "--data", dir.path().join("new").to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a hush backup"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!dir.path().join("new").join("hush.db").exists());
}

#[test]
fn a_restore_that_brings_back_a_revoked_device_is_an_alert() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr.clone();
    let (a, b, b2) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("b2"));
    register(&a, "alice", &server.url);
    register(&b, "bob", &server.url);
    link_device(&b2, "bob", &server.url, &b);
    ok(&a, &["send", "bob", "hello both of your devices", "--new"]);
    assert_eq!(texts(&read(&b2)), vec!["hello both of your devices"]);
    let backup = dir.path().join("backup");
    let out = server_cmd(&["backup", backup.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Bob's second device is stolen after the backup: he revokes it, alice's side follows.
    let stolen = device_id(&b2);
    ok(&b, &["device", "revoke", &stolen]);
    ok(&a, &["send", "bob", "only your first device now"]);
    assert_eq!(texts(&read(&b)), vec!["hello both of your devices", "only your first device now"]);

    // The restore brings the revocation back undone: alice is alerted, by name.
    server.kill9();
    drop(server);
    std::fs::remove_dir_all(&data).unwrap();
    let out = server_cmd(&["restore", backup.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _server = Server::start(&data, &addr);
    let warn = warnings(&read(&a)).join("\n");
    assert!(warn.contains("ALERT") && warn.contains("bob's devices"), "{warn}");
    assert!(warn.contains(&stolen[..8]), "the device is named: {warn}");
    // Bob's device remembers what it revoked: it revokes the device again, and says so.
    let bob_warn = warnings(&read(&b)).join("\n");
    assert!(bob_warn.contains(&format!("your device {}", &stolen[..8])) && bob_warn.contains("revoked again"), "{bob_warn}");
    let devices = ok(&b, &["device", "list", "--json"]);
    assert!(!devices.contains(&stolen), "the stolen device is not listed: {devices}");
    // The stolen device reads nothing sent from now on.
    ok(&a, &["send", "bob", "after the second revocation"]);
    assert_eq!(texts(&read(&b)), vec!["after the second revocation"]);
    let stolen_reads = hush(&b2, &["read", "--json"]);
    assert!(!String::from_utf8_lossy(&stolen_reads.stdout).contains("after the second revocation"));
}

#[test]
fn a_member_who_missed_a_change_lost_in_the_restore_is_told_to_heal_and_healing_works() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, "127.0.0.1:0");
    let addr = server.addr.clone();
    let (a, b, c, d) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"), dir.path().join("d"));
    for (h, u) in [(&a, "alice"), (&b, "bob"), (&c, "carol"), (&d, "dave")] {
        register(h, u, &server.url);
    }
    ok(&a, &["conversation", "create", "trio", "--with", "bob,carol"]);
    ok(&a, &["send", "trio", "one"]);
    read(&b);
    read(&c);
    let backup = dir.path().join("backup");
    let out = server_cmd(&["backup", backup.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success());
    // After the backup alice adds dave (a new epoch); bob follows, carol is away.
    ok(&a, &["conversation", "add", "trio", "dave"]);
    read(&b);
    server.kill9();
    drop(server);
    std::fs::remove_dir_all(&data).unwrap();
    let out = server_cmd(&["restore", backup.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success());
    let _server = Server::start(&data, &addr);

    // Alice and bob go on at the epoch they reached; carol can't follow and is told how.
    ok(&a, &["send", "trio", "after the restore"]);
    assert_eq!(texts(&read(&b)), vec!["after the restore"]);
    let carol = warnings(&read(&c)).join("\n");
    assert!(carol.contains("restore from a backup lost that change") && carol.contains("hush conversation heal trio"), "{carol}");
    let e = fails(&c, &["send", "trio", "can anyone hear me?"]);
    assert!(e.contains("hush conversation heal trio"), "{e}");

    // Healing brings everyone back into one conversation.
    ok(&a, &["conversation", "heal", "trio"]);
    read(&c);
    ok(&c, &["send", "trio", "carol is back"]);
    for h in [&a, &b, &d] {
        assert!(texts(&read(h)).contains(&"carol is back".to_owned()));
    }
}
