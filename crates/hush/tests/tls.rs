//! TLS end to end through the real binary: `hush server --tls-cert/--tls-key`, the same
//! flow behind nginx terminating TLS, clients refused with one sentence (untrusted,
//! wrong name, expired, not TLS at all), bad certificate files, and a certificate
//! replaced while the server runs. Certificates come from a test CA made with rcgen.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

/// A private certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem_file: PathBuf,
}

impl Ca {
    /// Makes a CA and writes its certificate to `dir/NAME.pem`.
    fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("hush test {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem_file = dir.join(format!("{name}.pem"));
        std::fs::write(&pem_file, issuer.pem()).unwrap();
        Ca { issuer, pem_file }
    }

    /// A server certificate for `names`, valid until `not_after` (default: far away), as
    /// (certificate PEM, key PEM).
    fn server_cert(&self, names: &[&str], not_after: Option<(i32, u8, u8)>) -> (String, String) {
        let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if let Some((y, m, d)) = not_after {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(y, m, d);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Writes a certificate for 127.0.0.1 and localhost to `dir/server.crt`/`server.key`
    /// (each replaced in one rename, as a careful operator or certbot does).
    fn issue_into(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = self.server_cert(&["localhost", "127.0.0.1"], None);
        write_pair(dir, &cert, &key)
    }
}

fn write_pair(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
    for (path, text) in [(&k, key), (&c, cert)] {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }
    (c, k)
}

fn tls_server(dir: &Path, cert: &Path, key: &Path) -> Server {
    let server = Server::start_with(
        &dir.join("data"),
        "127.0.0.1:0",
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    assert!(server.url.starts_with("https://"), "the startup line names https: {}", server.url);
    server
}

/// Keeps trying `f` until it returns true (something the server does in the background).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("never happened: {what}");
}

/// The README's flow over `url` (https): three people register trusting `ca` (given once,
/// then remembered), a one-to-one chat, a group chat, a message pushed over wss to
/// `watch`, and a file of more than one upload chunk put, shared and fetched.
fn readme_flow(dir: &Path, url: &str, ca: &Path) {
    let (a, b, c) = (dir.join("alice"), dir.join("bob"), dir.join("carol"));
    let ca = ca.to_str().unwrap();
    for (home, user) in [(&a, "alice"), (&b, "bob"), (&c, "carol")] {
        let out = ok(home, &["--ca-cert", ca, "register", user, "--server", url, "--skip-phrase-check"]);
        assert!(out.contains(&format!("registered {user} on {url}")), "{out}");
    }
    // The server and the CA are remembered: no flag from here on.
    let config = std::fs::read_to_string(a.join("config.toml")).unwrap();
    assert!(config.contains(url) && config.contains("ca_cert"), "{config}");

    ok(&a, &["send", "bob", "lunch at noon?", "--new"]);
    assert_eq!(texts(&read(&b)), vec!["lunch at noon?"]);
    ok(&b, &["send", "alice", "yes"]);
    assert_eq!(texts(&read(&a)), vec!["yes"]);

    ok(&a, &["conversation", "create", "weekend", "--with", "bob,carol"]);
    ok(&a, &["send", "weekend", "hiking on Saturday?"]);
    assert_eq!(texts(&read(&b)), vec!["hiking on Saturday?"]);
    assert_eq!(texts(&read(&c)), vec!["hiking on Saturday?"]);

    // watch: the push socket over wss.
    let mut watch = Command::new(hush_bin())
        .arg("--home")
        .arg(&c)
        .args(["watch", "--json"])
        .env("HUSH_PASSPHRASE", PASS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // watch syncs once, then opens the socket (it stops with an error if it can't) and
    // syncs again on each push, or every 30 s without one: messages seen well before that
    // came through the push.
    let mut sent = 0;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < 2 && Instant::now() < deadline {
        if let Some(status) = watch.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut watch.stderr.take().unwrap(), &mut err).unwrap();
            panic!("watch stopped ({status}): {err}");
        }
        sent += 1;
        ok(&b, &["send", "weekend", &format!("live over wss {sent}")]);
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(1500)) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["kind"] == "text" {
                seen.push(v["text"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(watch.try_wait().unwrap().is_none(), "watch is still connected");
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(seen.len() >= 2 && seen.iter().all(|t| t.starts_with("live over wss")), "watch printed {seen:?}");

    // Files: more than one upload chunk, shared without re-upload, fetched and checked.
    let report = dir.join("report.bin");
    let data: Vec<u8> = (0..9 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&report, &data).unwrap();
    ok(&a, &["put", report.to_str().unwrap(), "Work/report.bin"]);
    ok(&a, &["share", "Work/report.bin", "--with", "bob"]);
    let got = dir.join("got.bin");
    ok(&b, &["get", "alice:report.bin", "-o", got.to_str().unwrap()]);
    assert!(std::fs::read(&got).unwrap() == data, "bob got alice's file intact");
}

#[test]
fn the_readme_flow_over_https_with_a_private_ca() {
    let dir = tempdir();
    let ca = Ca::new(dir.path(), "ca");
    let (cert, key) = ca.issue_into(dir.path());
    let server = tls_server(dir.path(), &cert, &key);
    readme_flow(dir.path(), &server.url, &ca.pem_file);
}

// ------------------------------------------------------------------ nginx

/// nginx from the distribution, run as a child with its own configuration and prefix.
struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    for candidate in ["nginx", "/usr/sbin/nginx"] {
        if Command::new(candidate).arg("-v").stderr(Stdio::null()).status().is_ok_and(|s| s.success()) {
            return PathBuf::from(candidate);
        }
    }
    panic!("nginx is not installed: this test needs it (apt-get install nginx-light, as .ci/run does)");
}

/// Starts nginx terminating TLS on a free port and proxying to `upstream` (host:port).
fn nginx(dir: &Path, upstream: &str, cert: &Path, key: &Path) -> Nginx {
    let bin = nginx_binary();
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("tmp")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let p = prefix.display();
    let conf = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {p}/access.log;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate     {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;

        # Upload chunks are 8 MiB; the server enforces its own limits.
        client_max_body_size 16m;

        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # The live push socket (/v1/ws) is a WebSocket upgrade, idle for long stretches.
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            # Stream uploads and downloads instead of spooling them to disk.
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
}}
"#,
        cert = cert.display(),
        key = key.display(),
    );
    let conf_file = prefix.join("nginx.conf");
    std::fs::write(&conf_file, conf).unwrap();
    let mut child = Command::new(&bin)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_file)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nginx");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            let log = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
            panic!("nginx stopped ({status}): {err}{log}");
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "nginx did not start listening on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx { child, port }
}

#[test]
fn the_readme_flow_behind_nginx_terminating_tls() {
    let dir = tempdir();
    let ca = Ca::new(dir.path(), "ca");
    let (cert, key) = ca.issue_into(dir.path());
    // The hush server speaks plain HTTP on loopback; nginx holds the certificate.
    let server = Server::start(&dir.path().join("data"), "127.0.0.1:0");
    let proxy = nginx(dir.path(), &server.addr, &cert, &key);
    readme_flow(dir.path(), &format!("https://127.0.0.1:{}", proxy.port), &ca.pem_file);
    // The push socket went through nginx as a WebSocket (101 Switching Protocols).
    let access = std::fs::read_to_string(dir.path().join("nginx/access.log")).unwrap();
    assert!(access.lines().any(|l| l.contains("\"GET /v1/ws HTTP/1.1\" 101 ")), "{access}");
}

// ------------------------------------------------------------------ refusals

/// `register` against `url` fails with one sentence; returns it.
fn refused(dir: &Path, home: &str, url: &str, extra: &[&str]) -> String {
    let mut args = extra.to_vec();
    args.extend(["register", "dave", "--server", url, "--skip-phrase-check"]);
    let err = fails(&dir.join(home), &args);
    assert!(err.starts_with("hush: "), "{err}");
    err
}

#[test]
fn a_client_that_cannot_trust_the_server_is_refused_in_one_sentence() {
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::new(d, "ca");
    let (cert, key) = ca.issue_into(d);
    let server = tls_server(d, &cert, &key);
    let ca_file = ca.pem_file.to_str().unwrap();

    // No private CA: the system's authorities don't know it.
    let err = refused(d, "h1", &server.url, &[]);
    assert!(err.contains(&format!("can't reach the server at {}", server.url)), "{err}");
    assert!(err.contains("certificate is not signed by a trusted authority") && err.contains("--ca-cert"), "{err}");
    // Nor does another CA.
    let other = Ca::new(d, "other-ca");
    let err = refused(d, "h2", &server.url, &["--ca-cert", other.pem_file.to_str().unwrap()]);
    assert!(err.contains("certificate is not signed by a trusted authority"), "{err}");
    // So does `watch`, with the server from a config.toml that names no CA.
    let home = d.join("h3");
    ok(&home, &["--ca-cert", ca_file, "register", "erin", "--server", &server.url, "--skip-phrase-check"]);
    std::fs::write(home.join("config.toml"), format!("server = \"{}\"\n", server.url)).unwrap();
    let err = fails(&home, &["watch"]);
    assert!(err.contains("not signed by a trusted authority"), "{err}");

    // A certificate for another name.
    let sub = d.join("wrong-name");
    std::fs::create_dir_all(&sub).unwrap();
    let (c, k) = ca.server_cert(&["hush.example.org"], None);
    let (c, k) = write_pair(&sub, &c, &k);
    let wrong_name = tls_server(&sub, &c, &k);
    let err = refused(d, "h4", &wrong_name.url, &["--ca-cert", ca_file]);
    assert!(err.contains("certificate is for a different name (hush.example.org) than the server address (127.0.0.1)"), "{err}");

    // An expired certificate.
    let sub = d.join("expired");
    std::fs::create_dir_all(&sub).unwrap();
    let (c, k) = ca.server_cert(&["localhost", "127.0.0.1"], Some((2001, 1, 1)));
    let (c, k) = write_pair(&sub, &c, &k);
    let expired = tls_server(&sub, &c, &k);
    let err = refused(d, "h5", &expired.url, &["--ca-cert", ca_file]);
    assert!(err.contains("certificate has expired"), "{err}");

    // A self-signed CA certificate as the server's own (what `openssl req -x509` makes).
    let sub = d.join("ca-as-leaf");
    std::fs::create_dir_all(&sub).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let self_signed = params.self_signed(&key).unwrap();
    let (c, k) = write_pair(&sub, &self_signed.pem(), &key.serialize_pem());
    let ca_as_leaf = tls_server(&sub, &c, &k);
    for extra in [vec![], vec!["--ca-cert", c.to_str().unwrap()]] {
        let err = refused(d, "h-leaf", &ca_as_leaf.url, &extra);
        assert!(err.contains("its certificate is a CA certificate"), "{err}");
    }

    // http:// to a server that speaks TLS.
    let err = refused(d, "h-http", &server.url.replace("https://", "http://"), &[]);
    assert!(err.contains("does not answer plain HTTP there (is it an https:// server?)"), "{err}");

    // https:// to a server that speaks plain HTTP.
    let plain = Server::start(&d.join("plain-data"), "127.0.0.1:0");
    let err = refused(d, "h6", &plain.url.replace("http://", "https://"), &["--ca-cert", ca_file]);
    assert!(err.contains("does not speak TLS"), "{err}");

    // CA files that can't be used, named in the sentence.
    let missing = d.join("missing.pem");
    let err = refused(d, "h7", &server.url, &["--ca-cert", missing.to_str().unwrap()]);
    assert!(err.contains(&format!("can't read the CA certificate file {}", missing.display())), "{err}");
    let garbage = d.join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let err = refused(d, "h8", &server.url, &["--ca-cert", garbage.to_str().unwrap()]);
    assert!(err.contains(&format!("the CA certificate file {} holds no PEM certificate", garbage.display())), "{err}");
    let broken = d.join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let err = refused(d, "h9", &server.url, &["--ca-cert", broken.to_str().unwrap()]);
    assert!(err.contains(&broken.display().to_string()), "{err}");
    // ... also through HUSH_CA_CERT and the home's config.toml.
    let out = Command::new(hush_bin())
        .args(["--home", d.join("h10").to_str().unwrap(), "register", "dave", "--server", &server.url, "--skip-phrase-check"])
        .env("HUSH_PASSPHRASE", PASS)
        .env("HUSH_CA_CERT", &garbage)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.trim().lines().count() == 1 && err.contains(&garbage.display().to_string()), "{err}");
    let h11 = d.join("h11");
    std::fs::create_dir_all(&h11).unwrap();
    std::fs::write(h11.join("config.toml"), "server = [garbage\n").unwrap();
    let err = fails(&h11, &["whoami"]);
    assert!(err.contains(&format!("the client configuration {} is not valid", h11.join("config.toml").display())), "{err}");
    // A config.toml alone is enough to register: server and CA from the file.
    let h12 = d.join("h12");
    std::fs::create_dir_all(&h12).unwrap();
    std::fs::write(h12.join("config.toml"), format!("server = \"{}\"\nca_cert = \"{}\"\n", server.url, ca_file)).unwrap();
    ok(&h12, &["register", "frank", "--skip-phrase-check"]);
    assert!(ok(&h12, &["whoami"]).contains(&format!("frank on {}", server.url)));
}

#[test]
fn the_server_refuses_unusable_certificate_files_in_one_sentence() {
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::new(d, "ca");
    let (cert, key) = ca.issue_into(d);
    let (other_cert, other_key) = ca.server_cert(&["localhost"], None);
    let other_key_file = d.join("other.key");
    std::fs::write(&other_key_file, other_key).unwrap();
    let other_cert_file = d.join("other.crt");
    std::fs::write(&other_cert_file, other_cert).unwrap();
    let garbage = d.join("garbage.pem");
    std::fs::write(&garbage, "not pem at all\n").unwrap();
    let missing = d.join("missing.pem");
    let data = d.join("data");
    let cases: Vec<(Vec<&Path>, String)> = vec![
        (vec![&cert], "--tls-cert needs --tls-key".into()),
        (vec![], "--tls-key needs --tls-cert".into()),
        (vec![&cert, &other_key_file], format!("the TLS key in {} does not belong to the certificate in {}", other_key_file.display(), cert.display())),
        (vec![&missing, &key], format!("can't read the TLS certificate file {}", missing.display())),
        (vec![&cert, &missing], format!("can't read the TLS key file {}", missing.display())),
        (vec![&garbage, &key], format!("the TLS certificate file {} holds no PEM certificate", garbage.display())),
        (vec![&cert, &garbage], format!("the TLS key file {} holds no PEM private key", garbage.display())),
    ];
    for (files, expected) in cases {
        let mut cmd = Command::new(hush_bin());
        cmd.args(["server", "--listen", "127.0.0.1:0", "--data"]).arg(&data);
        match files.as_slice() {
            [c] => {
                cmd.arg("--tls-cert").arg(c);
            }
            [] => {
                cmd.arg("--tls-key").arg(&key);
            }
            [c, k] => {
                cmd.arg("--tls-cert").arg(c).arg("--tls-key").arg(k);
            }
            _ => unreachable!(),
        }
        let out = cmd.env("HUSH_LOG", "warn").stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "the server started with {files:?}");
        assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
        assert!(err.contains(&expected), "expected {expected:?}, got {err}");
    }
    // The right pair, given through the environment, works.
    let out = Command::new(hush_bin())
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("HUSH_TLS_CERT", &other_cert_file)
        .env("HUSH_TLS_KEY", &key)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not belong"), "the environment is read too");
}

// ------------------------------------------------------------------ reload

#[test]
fn a_replaced_certificate_is_served_without_a_restart() {
    let dir = tempdir();
    let d = dir.path();
    let old_ca = Ca::new(d, "old-ca");
    let (cert, key) = old_ca.issue_into(d);
    let server = tls_server(d, &cert, &key);
    let home = d.join("alice");
    ok(&home, &["--ca-cert", old_ca.pem_file.to_str().unwrap(), "register", "alice", "--server", &server.url, "--skip-phrase-check"]);

    // An auditor that trusts only CA `ca` (no account needed).
    let audit = |ca: &Path| {
        hush(&d.join("auditor"), &["--ca-cert", ca.to_str().unwrap(), "audit", "--server", &server.url, "--state", d.join("audit.json").to_str().unwrap()])
    };
    assert!(audit(&old_ca.pem_file).status.success());

    // The operator renews the certificate from another CA.
    let new_ca = Ca::new(d, "new-ca");
    new_ca.issue_into(d);
    eventually("the new certificate is served", || audit(&new_ca.pem_file).status.success());
    // alice still trusts only the old CA: refused, in one sentence.
    let err = fails(&home, &["read"]);
    assert!(err.contains("not signed by a trusted authority"), "{err}");
    // With the new CA in her config she is back.
    std::fs::write(home.join("config.toml"), format!("server = \"{}\"\nca_cert = \"{}\"\n", server.url, new_ca.pem_file.display())).unwrap();
    ok(&home, &["read"]);

    // A broken new file: logged, and the certificate in use stays.
    let broken = |server: &Server| {
        let needle = format!("kept the previous TLS certificate: the TLS certificate file {} holds a certificate that can't be parsed", cert.display());
        server.log.lock().unwrap().iter().filter(|l| l.contains(&needle)).count()
    };
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    eventually("the bad file is reported", || broken(&server) == 1);
    assert!(audit(&new_ca.pem_file).status.success(), "the previous certificate is still served");
    ok(&home, &["read"]);

    // SIGHUP asks for a reload; the server keeps running.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    eventually("the bad file is read again after SIGHUP", || broken(&server) == 2);
    ok(&home, &["read"]);
}
