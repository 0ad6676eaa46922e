//! The files screens: the drive and each conversation's space (`PATH`, or `#ID:PATH` for a
//! conversation's), upload with progress, download, export for an age recipient, and the
//! changes (folder, move, delete, share, unshare). Each is one library call; the bytes pass
//! through a private folder of the home, `ui-transfers`, emptied as soon as they are used.

use std::path::PathBuf;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use hush_client::drive::{DEFAULT_KEEP_VERSIONS, Destination, TransferOptions};
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

use super::chats::failed;
use super::events::PageProgress;
use super::reply::{Reply, done};
use super::{Shared, UiError};

/// A private folder for bytes on their way (created on first use, owner-only).
fn transfer_dir(ui: &Shared) -> Result<PathBuf, UiError> {
    let dir = ui.home.join("ui-transfers").join(hex::encode(rand::random::<[u8; 12]>()));
    std::fs::create_dir_all(&dir).map_err(|e| UiError::from(anyhow::anyhow!("can't create {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(ui.home.join("ui-transfers"), std::fs::Permissions::from_mode(0o700));
    }
    Ok(dir)
}

/// The subject alerts about a space are filed under: its conversation, or the drive.
fn subject_of(spec: &str) -> String {
    spec.strip_prefix('#').and_then(|s| s.split_once(':')).map(|(id, _)| id.to_owned()).unwrap_or_default()
}

/// Where.
#[derive(Deserialize)]
pub(crate) struct At {
    #[serde(default)]
    at: String,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    recipient: String,
}

/// `GET /api/files?at=SPEC`.
pub(crate) async fn list(State(ui): State<Shared>, Query(q): Query<At>) -> Reply {
    let mut c = ui.client().await?;
    let (loc, items) = match c.ls(&q.at).await {
        Ok(r) => r,
        Err(e) => return Err(failed(&ui, &mut c, &subject_of(&q.at), e)),
    };
    Ok(Json(json!({"location": format!("{}{}", loc.label, loc.path), "items": items})))
}

/// Where an upload goes, and the file's name.
#[derive(Deserialize)]
pub(crate) struct UploadTo {
    #[serde(default)]
    to: String,
    name: String,
}

/// `POST /api/files/upload?to=SPEC&name=NAME`: the body is the file.
pub(crate) async fn upload(State(ui): State<Shared>, Query(q): Query<UploadTo>, body: Body) -> Reply {
    let name = q.name.trim();
    if name.is_empty() || name.contains('/') || name.contains('\\') || name == "." || name == ".." || name.chars().any(char::is_control) {
        return Err(UiError::usage("a file name can't be empty or contain '/', '\\' or control characters"));
    }
    let dir = transfer_dir(&ui)?;
    let local = dir.join(name);
    let result = async {
        let mut f = tokio::fs::File::create(&local).await.map_err(|e| UiError::from(anyhow::anyhow!("can't write {}: {e}", local.display())))?;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| UiError::usage(format!("the upload stopped: {e}")))?;
            f.write_all(&chunk).await.map_err(|e| UiError::from(anyhow::anyhow!("can't write {}: {e}", local.display())))?;
        }
        f.flush().await.map_err(|e| UiError::from(anyhow::anyhow!("can't write {}: {e}", local.display())))?;
        drop(f);
        let mut c = ui.client().await?;
        let opts = TransferOptions { progress: Some(PageProgress::new(ui.clone())), ..Default::default() };
        let dest = (!q.to.is_empty()).then_some(q.to.as_str());
        match c.put(&local, dest, DEFAULT_KEEP_VERSIONS, opts).await {
            Ok(r) => Ok(r),
            Err(e) => Err(failed(&ui, &mut c, &subject_of(&q.to), e)),
        }
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    let r = result?;
    ui.changed();
    Ok(Json(json!({"location": r.location, "version": r.version, "size": r.size})))
}

/// The last part of a path, for the browser's file name.
fn file_name(spec: &str) -> String {
    let path = spec.rsplit_once(':').map_or(spec, |(_, p)| p);
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("file").to_owned()
}

/// Downloads (or exports) into the private folder, then streams it from a handle whose
/// name is already gone.
async fn fetch(ui: &Shared, q: &At, export: bool) -> Result<Response, UiError> {
    let dir = transfer_dir(ui)?;
    let out = dir.join("file");
    let dest = Destination::File { path: out.clone(), force: true };
    let result = async {
        let mut c = ui.client().await?;
        let opts = TransferOptions { progress: Some(PageProgress::new(ui.clone())), ..Default::default() };
        let r = if export { c.export(&q.at, &q.recipient, &dest, opts).await } else { c.get(&q.at, &dest, q.version, opts).await };
        if let Err(e) = r {
            return Err(failed(ui, &mut c, &subject_of(&q.at), e));
        }
        tokio::fs::File::open(&out).await.map_err(|e| UiError::from(anyhow::anyhow!("can't read {}: {e}", out.display())))
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    let file = result?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match tokio::io::AsyncReadExt::read(&mut f, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut name = file_name(&q.at);
    if export {
        name.push_str(".age");
    }
    let encoded: String = name
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    Ok(resp)
}

/// `GET /api/files/download?at=SPEC[&version=N]`: the file, once every check passed.
pub(crate) async fn download(State(ui): State<Shared>, Query(q): Query<At>) -> Result<Response, UiError> {
    fetch(&ui, &q, false).await
}

/// `GET /api/files/export?at=SPEC&recipient=age1…`: a standard age file for the recipient.
pub(crate) async fn export(State(ui): State<Shared>, Query(q): Query<At>) -> Result<Response, UiError> {
    if q.recipient.trim().is_empty() {
        return Err(UiError::usage("give an age recipient (age1…)"));
    }
    fetch(&ui, &q, true).await
}

/// What a change carries.
#[derive(Deserialize, Default)]
pub(crate) struct Change {
    #[serde(default)]
    at: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    with: String,
    #[serde(default)]
    recursive: bool,
}

/// `POST /api/files/{mkdir|move|delete|share|unshare}`.
pub(crate) async fn change(State(ui): State<Shared>, axum::extract::Path(action): axum::extract::Path<String>, Json(req): Json<Change>) -> Reply {
    let mut c = ui.client().await?;
    let r = match action.as_str() {
        "mkdir" => c.mkdir(&req.at).await.map(|_| ()),
        "move" => c.mv(&req.from, &req.to).await,
        "delete" => c.rm(&req.at, req.recursive).await.map(|_| ()),
        "share" => c.share(&req.at, req.with.trim()).await.map(|_| ()),
        "unshare" => c.unshare(&req.at, req.from.trim()).await.map(|_| ()),
        _ => return Err(UiError::usage(format!("no such change: {action}"))),
    };
    let spec = if req.at.is_empty() { &req.from } else { &req.at };
    if let Err(e) = r {
        return Err(failed(&ui, &mut c, &subject_of(spec), e));
    }
    drop(c);
    ui.changed();
    done()
}
