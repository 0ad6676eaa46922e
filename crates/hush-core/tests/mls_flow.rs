//! Two and three devices through the MLS wrapper: create, add, talk, remove, and the
//! credential checks that guard every commit and Welcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

use hush_core::identity::{DeviceCertificate, SecretKey, new_device_id};
use hush_core::mls::{self, Conversation, Device, HushProvider, Incoming, PendingJoin};

struct Person {
    identity: SecretKey,
    key: SecretKey,
    cert: DeviceCertificate,
    provider: HushProvider,
}

impl Person {
    fn new(name: &str) -> Self {
        let identity = SecretKey::generate();
        let key = SecretKey::generate();
        let cert = DeviceCertificate::issue(&identity, name, &new_device_id(), key.public());
        Person { identity, key, cert, provider: HushProvider::new().expect("provider") }
    }
    fn device(&self) -> Device<'_> {
        Device { key: &self.key, certificate: &self.cert }
    }
    fn key_package(&self) -> Vec<u8> {
        let (mut kps, _) = mls::key_packages(&self.provider, &self.device(), 1).expect("kp");
        kps.remove(0)
    }
}

fn text(incoming: Incoming) -> (String, Vec<u8>) {
    match incoming {
        Incoming::Application { sender, plaintext, .. } => (sender.username, plaintext.to_vec()),
        _ => panic!("expected an application message"),
    }
}

#[test]
fn create_add_talk_remove() {
    let alice = Person::new("alice");
    let bob = Person::new("bob");
    let carol = Person::new("carol");

    let mut a = Conversation::create(&alice.provider, &alice.device()).expect("create");
    let kp_b = mls::check_key_package(&bob.key_package()).expect("bob's kp verifies");
    let kp_c = mls::check_key_package(&carol.key_package()).expect("carol's kp verifies");
    assert_eq!(kp_b.certificate.username, "bob");
    let out = a
        .change_members(&alice.provider, &alice.device(), vec![kp_b.key_package, kp_c.key_package], &[])
        .expect("add");
    a.confirm_commit(&alice.provider).expect("merge own");
    let welcome = out.welcome.expect("welcome");

    let join_b = PendingJoin::new(&bob.provider, &welcome).expect("bob stages welcome");
    assert_eq!(join_b.members.len(), 3);
    assert_eq!(join_b.inviter.username, "alice");
    let mut b = join_b.trust(|_, _| Ok::<_, ()>(())).unwrap().accept(&bob.provider).expect("bob joins");
    let mut c = PendingJoin::new(&carol.provider, &welcome).expect("carol").trust(|_, _| Ok::<_, ()>(())).unwrap().accept(&carol.provider).expect("join");
    assert_eq!(a.id(), b.id());
    // Every member derives the same space key for the epoch.
    let (ea, ka) = a.space_key(&alice.provider).expect("key");
    let (eb, kb) = b.space_key(&bob.provider).expect("key");
    assert_eq!((ea, &ka), (eb, &kb));
    assert_eq!(a.epoch(), b.epoch());

    let ct = a.encrypt(&alice.provider, &alice.device(), b"hello group", b"").expect("enc");
    let info = mls::inspect(&ct).expect("framing");
    assert_eq!(info.kind, mls::WireKind::Application);
    assert_eq!(info.group_id, a.id());
    assert!(!ct.windows(11).any(|w| w == b"hello group"));
    assert_eq!(text(b.process(&bob.provider, &ct).expect("bob dec")), ("alice".into(), b"hello group".to_vec()));
    assert_eq!(text(c.process(&carol.provider, &ct).expect("carol dec")).1, b"hello group".to_vec());

    // A replay of the same ciphertext is refused by MLS.
    assert!(b.process(&bob.provider, &ct).is_err());

    // A flipped bit is refused.
    let ct2 = a.encrypt(&alice.provider, &alice.device(), b"second", b"").expect("enc");
    let mut bad = ct2.clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    assert!(b.process(&bob.provider, &bad).is_err());
    assert_eq!(text(b.process(&bob.provider, &ct2).expect("the real one still decrypts")).1, b"second".to_vec());

    // Alice removes carol.
    let carol_id = carol.cert.body().device_id.clone();
    let out = a.change_members(&alice.provider, &alice.device(), vec![], &[carol_id]).expect("remove");
    a.confirm_commit(&alice.provider).expect("merge");
    match b.process(&bob.provider, &out.commit).expect("bob stages") {
        Incoming::Commit(p) => {
            assert_eq!(p.committer.username, "alice");
            assert_eq!(p.removed.len(), 1);
            assert_eq!(p.removed[0].username, "carol");
            assert!(!p.removes_me);
            b.merge(&bob.provider, (*p).trust(|_, _| Ok::<_, ()>(())).unwrap()).expect("merge");
        }
        _ => panic!("expected commit"),
    }
    match c.process(&carol.provider, &out.commit).expect("carol stages") {
        Incoming::Commit(p) => {
            assert!(p.removes_me);
            c.merge(&carol.provider, (*p).trust(|_, _| Ok::<_, ()>(())).unwrap()).expect("merge");
        }
        _ => panic!("expected commit"),
    }
    let after = a.encrypt(&alice.provider, &alice.device(), b"after removal", b"").expect("enc");
    assert_eq!(text(b.process(&bob.provider, &after).expect("bob")).1, b"after removal".to_vec());
    assert!(c.process(&carol.provider, &after).is_err(), "removed member can't decrypt");

    // State survives export/import.
    let state = bob.provider.export_state().expect("export");
    let restored = HushProvider::import_state(&state).expect("import");
    let mut b2 = Conversation::load(&restored, &a.id()).expect("load").expect("exists");
    let later = a.encrypt(&alice.provider, &alice.device(), b"later", b"").expect("enc");
    assert_eq!(text(b2.process(&restored, &later).expect("restored bob")).1, b"later".to_vec());
    let _ = &alice.identity;
    let _ = &bob.identity;
}

#[test]
fn a_key_package_whose_leaf_key_is_not_the_certified_key_is_refused() {
    let bob = Person::new("bob");
    // A certificate for another key, put in a KeyPackage signed by bob's device key.
    let other = SecretKey::generate();
    let wrong_cert = DeviceCertificate::issue(&bob.identity, "bob", &new_device_id(), other.public());
    let (kps, _) = mls::key_packages(&bob.provider, &Device { key: &bob.key, certificate: &wrong_cert }, 1).expect("kp");
    let err = mls::check_key_package(&kps[0]).err().expect("refused");
    assert!(err.to_string().contains("not the key certified"), "{err}");
}
