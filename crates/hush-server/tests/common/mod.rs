//! The harness the server's integration tests share: a real server on loopback with a real
//! SQLite database in a temporary directory, devices with real keys and certificates made by
//! hush-core, and a client that signs its requests as a real client does.

// Tests state their expectations with unwrap/expect/panic: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Not every test file uses every helper.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hush_core::auth::{canonical_request, fresh_nonce};
use hush_core::identity::{DeviceCertificate, PublicKey, SecretKey, new_device_id};
use hush_core::kt::Root;
use hush_core::mls::{self, Conversation, Device, HushProvider};
use hush_proto::{
    B64, BackupUpload, ClaimResponse, CommitRequest, DeviceUpload, ErrorBody, InboxResponse, KtInfo, KtRoot,
    RECOVERY_DEVICE, RegisterRequest,
};
use hush_server::{DATABASE_FILE, Server, ServerConfig, ServerError};
use reqwest::StatusCode;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------
// The server

pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Running {
    /// A server on 127.0.0.1, any free port, keeping its data in `dir`.
    pub async fn start(dir: &Path) -> Running {
        Self::start_with(ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf())).await
    }

    pub async fn start_with(config: ServerConfig) -> Running {
        let server = Server::bind(config).await.expect("server binds");
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Running {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Graceful shutdown; `run` must return `Ok`.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("server stops within 10 s")
            .expect("server task did not panic");
        assert!(result.is_ok(), "run returned {result:?}");
    }

    /// Like a crash: the server's task is dropped mid-flight, nothing is closed cleanly.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// The server's database in `dir`, opened directly (the server must be stopped).
pub async fn database(dir: &Path) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join(DATABASE_FILE));
    sqlx::sqlite::SqlitePool::connect_with(options).await.unwrap()
}

/// Runs one statement on the server's database in `dir` (the server must be stopped).
pub async fn execute_sql(dir: &Path, sql: &'static str) {
    let pool = database(dir).await;
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

// ---------------------------------------------------------------------------------------
// Devices and keys

/// A user's device with real keys and its own MLS provider.
pub struct TestDevice {
    pub username: String,
    pub identity: SecretKey,
    pub key: SecretKey,
    pub device_id: String,
    pub cert: DeviceCertificate,
    pub provider: HushProvider,
}

impl TestDevice {
    pub fn new(username: &str) -> TestDevice {
        Self::of(username, SecretKey::generate())
    }

    /// A device of the user holding `identity`.
    pub fn of(username: &str, identity: SecretKey) -> TestDevice {
        Self::with_key(username, identity, SecretKey::generate(), new_device_id())
    }

    /// A device with this very key and id, certified by `identity`.
    pub fn with_key(username: &str, identity: SecretKey, key: SecretKey, device_id: String) -> TestDevice {
        let cert = DeviceCertificate::issue(&identity, username, &device_id, key.public());
        TestDevice {
            username: username.to_owned(),
            identity,
            key,
            device_id,
            cert,
            provider: HushProvider::new().expect("provider"),
        }
    }

    /// Another device of the same user.
    pub fn sibling(&self) -> TestDevice {
        Self::of(&self.username, copy_key(&self.identity))
    }

    pub fn mls(&self) -> Device<'_> {
        Device {
            key: &self.key,
            certificate: &self.cert,
        }
    }

    pub fn upload(&self, count: usize) -> DeviceUpload {
        let (kps, last) = mls::key_packages(&self.provider, &self.mls(), count).expect("key packages");
        DeviceUpload {
            certificate: B64(self.cert.encode()),
            key_packages: kps.into_iter().map(B64).collect(),
            last_resort: B64(last),
        }
    }

    pub fn register_request(&self, count: usize) -> RegisterRequest {
        RegisterRequest {
            username: self.username.clone(),
            identity_key: B64(self.identity.public().0.to_vec()),
            device: self.upload(count),
            invite: None,
        }
    }
}

pub fn copy_key(key: &SecretKey) -> SecretKey {
    SecretKey::from_bytes(&*key.to_bytes()).unwrap()
}

/// The (device id, device key) pairs of these devices, as the key directory holds them.
pub fn devices_of(devs: &[&TestDevice]) -> Vec<(String, PublicKey)> {
    devs.iter().map(|d| (d.device_id.clone(), d.key.public())).collect()
}

/// A key-directory root as the client's proof checks take it.
pub fn root(r: &KtRoot) -> Root {
    Root {
        epoch: r.epoch,
        hash: r.root_hash.0.as_slice().try_into().expect("a 32-byte root hash"),
    }
}

/// A backup upload for either backup slot.
pub fn backup(auth: &SecretKey, version: u64, blob: &[u8]) -> BackupUpload {
    BackupUpload {
        auth_key: B64(auth.public().0.to_vec()),
        version,
        blob: B64(blob.to_vec()),
    }
}

// ---------------------------------------------------------------------------------------
// Signed requests

/// Signature headers for a request, as a client makes them.
pub struct Signature {
    pub device_id: String,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: String,
}

pub fn sign(key: &SecretKey, device_id: &str, method: &str, path: &str, body: &[u8]) -> Signature {
    let timestamp = hush_core::now_ms();
    let nonce = fresh_nonce();
    let signature = key.sign(&canonical_request(method, path, timestamp, &nonce, body));
    Signature {
        device_id: device_id.to_owned(),
        timestamp,
        nonce,
        signature: URL_SAFE_NO_PAD.encode(signature),
    }
}

pub struct Client {
    pub http: reqwest::Client,
}

/// A plain reqwest client. reqwest is built with rustls but no crypto provider of its
/// own (hush hands it a ring configuration), so tests name the process default first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

impl Client {
    pub fn new() -> Client {
        Client {
            http: http_client(),
        }
    }

    pub async fn send_signed(
        &self,
        server: &Running,
        method: &str,
        path: &str,
        body: Vec<u8>,
        sig: &Signature,
    ) -> reqwest::Response {
        self.send_signed_as(server, method, path, "application/json", body, sig).await
    }

    /// Like [`Client::send_signed`], with this content type.
    pub async fn send_signed_as(
        &self,
        server: &Running,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        sig: &Signature,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.http
            .request(method, server.url(path))
            .header(hush_proto::HEADER_DEVICE, &sig.device_id)
            .header(hush_proto::HEADER_TIMESTAMP, sig.timestamp.to_string())
            .header(hush_proto::HEADER_NONCE, &sig.nonce)
            .header(hush_proto::HEADER_SIGNATURE, &sig.signature)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request is sent")
    }

    /// `method path` with these raw bytes as an `application/octet-stream` body (a file
    /// chunk), signed by `dev` like any request: the signature covers the bytes.
    pub async fn bytes(&self, server: &Running, dev: &TestDevice, method: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
        let sig = sign(&dev.key, &dev.device_id, method, path, &body);
        self.send_signed_as(server, method, path, "application/octet-stream", body, &sig).await
    }

    /// `method path` with this raw body, signed by `dev`.
    pub async fn raw(&self, server: &Running, dev: &TestDevice, method: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
        let sig = sign(&dev.key, &dev.device_id, method, path, &body);
        self.send_signed(server, method, path, body, &sig).await
    }

    pub async fn post<T: serde::Serialize>(&self, server: &Running, dev: &TestDevice, path: &str, body: &T) -> reqwest::Response {
        self.raw(server, dev, "POST", path, serde_json::to_vec(body).unwrap()).await
    }

    pub async fn get(&self, server: &Running, dev: &TestDevice, path: &str) -> reqwest::Response {
        self.raw(server, dev, "GET", path, Vec::new()).await
    }

    /// A signed `GET path` that must answer `200 OK`: its JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, server: &Running, dev: &TestDevice, path: &str) -> T {
        let res = self.get(server, dev, path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}: {:?}", res.text().await);
        res.json().await.unwrap()
    }

    /// `POST path`, unsigned, with this raw body.
    pub async fn post_raw(&self, server: &Running, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.http
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request is sent")
    }

    /// `PUT path`, unsigned, with this upload as its body.
    pub async fn put_backup_unsigned(&self, server: &Running, path: &str, upload: &BackupUpload) -> reqwest::Response {
        self.http
            .put(server.url(path))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(upload).unwrap())
            .send()
            .await
            .unwrap()
    }

    /// `GET path`, unsigned.
    pub async fn get_raw(&self, server: &Running, path: &str) -> reqwest::Response {
        self.http.get(server.url(path)).send().await.expect("request is sent")
    }

    /// An unsigned `GET path` that must answer `200 OK`: its JSON body.
    pub async fn public_json<T: serde::de::DeserializeOwned>(&self, server: &Running, path: &str) -> T {
        let res = self.get_raw(server, path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}: {:?}", res.text().await);
        res.json().await.unwrap()
    }

    /// `GET /v1/kt/info`, which must succeed.
    pub async fn kt_info(&self, server: &Running) -> KtInfo {
        self.public_json(server, "/v1/kt/info").await
    }

    /// Registers `dev`'s user with `dev` as its first device and `kps` key packages.
    pub async fn register(&self, server: &Running, dev: &TestDevice, kps: usize) {
        let res = self.post(server, dev, "/v1/register", &dev.register_request(kps)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    }

    /// Adds `dev` to its user's devices, with `kps` key packages.
    pub async fn add_device(&self, server: &Running, dev: &TestDevice, kps: usize) {
        let res = self.post(server, dev, "/v1/devices", &dev.upload(kps)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    }

    pub async fn inbox(&self, server: &Running, dev: &TestDevice) -> InboxResponse {
        self.get_json(server, dev, "/v1/inbox").await
    }

    /// `PUT path` (a backup slot) with this upload, signed by `dev`.
    pub async fn put_backup(&self, server: &Running, dev: &TestDevice, path: &str, upload: &BackupUpload) -> reqwest::Response {
        self.raw(server, dev, "PUT", path, serde_json::to_vec(upload).unwrap()).await
    }

    /// `GET path` signed with `key` as the recovery device.
    pub async fn recover_at(&self, server: &Running, path: &str, key: &SecretKey) -> reqwest::Response {
        let sig = sign(key, RECOVERY_DEVICE, "GET", path, b"");
        self.send_signed(server, "GET", path, Vec::new(), &sig).await
    }
}

/// Opens `dev`'s WebSocket.
pub async fn websocket(
    server: &Running,
    dev: &TestDevice,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let sig = sign(&dev.key, &dev.device_id, "GET", "/v1/ws", b"");
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{}/v1/ws", server.addr))
            .unwrap();
    let h = request.headers_mut();
    h.insert(hush_proto::HEADER_DEVICE, sig.device_id.parse().unwrap());
    h.insert(hush_proto::HEADER_TIMESTAMP, sig.timestamp.to_string().parse().unwrap());
    h.insert(hush_proto::HEADER_NONCE, sig.nonce.parse().unwrap());
    h.insert(hush_proto::HEADER_SIGNATURE, sig.signature.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket opens");
    socket
}

// ---------------------------------------------------------------------------------------
// Answers

/// Asserts an error answer: status, JSON content type, and the code.
pub async fn expect_error(res: reqwest::Response, status: StatusCode, code: &str) -> ErrorBody {
    expect_error_body(res, status, code, true).await
}

/// Asserts an error answer: status and code, and its content type only if `json_content_type`.
pub async fn expect_error_body(res: reqwest::Response, status: StatusCode, code: &str, json_content_type: bool) -> ErrorBody {
    assert_eq!(res.status(), status);
    if json_content_type {
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(ct.starts_with("application/json"), "content type {ct:?}");
    }
    let body: ErrorBody = res.json().await.expect("a JSON error body");
    assert_eq!(body.error, code, "message: {}", body.message);
    assert!(!body.message.is_empty());
    body
}

// ---------------------------------------------------------------------------------------
// Conversations

/// `owner` creates a conversation on the server and adds every device of `others`.
pub async fn conversation_with(client: &Client, server: &Running, owner: &TestDevice, others: &[&TestDevice]) -> Conversation {
    let mut conv = Conversation::create(&owner.provider, &owner.mls()).unwrap();
    let res = client
        .post(server, owner, "/v1/groups", &serde_json::json!({ "group_id": B64(conv.id()) }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    if others.is_empty() {
        return conv;
    }
    let mut kps = Vec::new();
    let mut added = Vec::new();
    for other in others {
        let claim: ClaimResponse = client
            .post(server, owner, &format!("/v1/users/{}/claim", other.username), &())
            .await
            .json()
            .await
            .unwrap();
        for c in claim.key_packages {
            kps.push(mls::check_key_package(&c.key_package.0).unwrap().key_package);
            added.push(c.device_id);
        }
    }
    let out = conv.change_members(&owner.provider, &owner.mls(), kps, &[]).unwrap();
    let res = client
        .post(
            server,
            owner,
            &format!("/v1/groups/{}/commit", hex::encode(conv.id())),
            &CommitRequest {
                commit: B64(out.commit),
                welcome: out.welcome.map(B64),
                added_devices: added,
                removed_devices: vec![],
            },
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    conv.confirm_commit(&owner.provider).unwrap();
    conv
}
