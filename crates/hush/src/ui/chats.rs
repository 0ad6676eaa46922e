//! The conversation screens: the list, one conversation with its members, sending, group
//! changes, verifying a contact, and alerts.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use hush_client::{Client, ClientError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::reply::{Reply, done};
use super::{Shared, Ui, UiError};

/// Turns a failure into an alert when the person must see it (the server misbehaved, a
/// key changed), about `subject` (a conversation id or `@user`); then into the answer.
pub(crate) fn failed(ui: &Ui, c: &mut Client, subject: &str, e: ClientError) -> UiError {
    let alert = e.is_server_misbehaviour() || matches!(e, ClientError::KeyChanged { .. } | ClientError::VerifiedKeyChanged { .. });
    if alert && c.alert(subject, &e.to_string()).is_ok() {
        ui.send_event(json!({"type": "alert"}));
    }
    e.into()
}

fn alert_json(a: &hush_client::Alert) -> Value {
    json!({"id": a.id, "conversation_id": a.subject, "conversation": a.about, "text": a.text, "at": a.at, "blocking": a.blocking})
}

fn message_json(c: &Client, m: &hush_client::Received) -> Value {
    json!({
        "sender": m.sender, "device": m.sender_device, "kind": m.kind, "text": m.text,
        "sent_at": m.sent_at, "received_at": m.received_at, "late": m.late,
        "mine": m.sender == c.username() && m.sender_device == c.device_id(),
    })
}

/// `GET /api/conversations`: every conversation with its unread count and last message,
/// the most recent first.
pub(crate) async fn list(State(ui): State<Shared>) -> Reply {
    let c = ui.client().await?;
    let alerts = c.alerts();
    let mut out: Vec<(i64, Value)> = c
        .conversations()
        .into_iter()
        .map(|(meta, members)| {
            let log = c.conversation_log(&meta.id);
            let last = log.iter().rev().find(|m| m.kind == "text");
            let mut names: Vec<String> = members.into_iter().map(|m| m.username).collect();
            names.dedup();
            let at = log.last().map_or(meta.joined_at, |m| m.received_at.max(m.sent_at));
            let v = json!({
                "id": meta.id,
                "name": c.conversation_name(&meta.id).unwrap_or_default(),
                "direct": meta.direct,
                "active": meta.active,
                "history": meta.history,
                "unread": c.unread_in(&meta.id),
                "last": last.map(|m| json!({"sender": m.sender, "text": m.text, "at": m.sent_at})),
                "members": names,
                "alerts": alerts.iter().filter(|a| a.subject == meta.id).count(),
            });
            (at, v)
        })
        .collect();
    out.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    Ok(Json(json!(out.into_iter().map(|(_, v)| v).collect::<Vec<_>>())))
}

/// `GET /api/conversations/{id}`: the messages, members with their devices and
/// verification, and alerts; marks the conversation read.
pub(crate) async fn view(State(ui): State<Shared>, Path(id): Path<String>) -> Reply {
    let mut c = ui.client().await?;
    let Some((meta, members)) = c.conversations().into_iter().find(|(m, _)| m.id == id) else {
        return Err(UiError::usage("no such conversation on this device"));
    };
    let messages: Vec<Value> = c.conversation_log(&id).iter().map(|m| message_json(&c, m)).collect();
    let mut by_user: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in members {
        by_user.entry(m.username).or_default().push(json!({"device_id": m.device_id, "fingerprint": m.fingerprint}));
    }
    let members: Vec<Value> = by_user
        .into_iter()
        .map(|(user, devices)| {
            let s = c.contact_status(&user);
            json!({"username": user, "me": user == c.username(), "verified": s.verified, "key_changed": s.key_changed, "devices": devices})
        })
        .collect();
    let alerts: Vec<Value> = c.alerts().iter().filter(|a| a.subject == id).map(alert_json).collect();
    c.mark_conversation_read(&id)?;
    Ok(Json(json!({
        "id": meta.id, "name": c.conversation_name(&id).unwrap_or_default(), "direct": meta.direct,
        "active": meta.active, "history": meta.history, "messages": messages, "members": members, "alerts": alerts,
    })))
}

/// What the composer sends.
#[derive(Deserialize)]
pub(crate) struct Send {
    to: String,
    text: String,
    #[serde(default)]
    new: bool,
}

/// `POST /api/send`: to a conversation (its id) or a user (`@name`, their one-to-one
/// conversation, made on first use once the person confirmed the name).
pub(crate) async fn send(State(ui): State<Shared>, Json(req): Json<Send>) -> Reply {
    let mut c = ui.client().await?;
    if req.text.trim().is_empty() {
        return Err(UiError::usage("type a message first"));
    }
    let (subject, target) = match req.to.strip_prefix('@') {
        Some(user) => (format!("@{}", user.trim()), format!("@{}", user.trim())),
        None => (req.to.clone(), format!("#{}", req.to)),
    };
    // An alert about a person (filed before a conversation with them existed) holds every
    // conversation they are in.
    let mut subjects = vec![subject.clone()];
    if req.to.strip_prefix('@').is_none() {
        let me = c.username().to_owned();
        subjects.extend(c.members(&target).unwrap_or_default().into_iter().filter(|m| m.username != me).map(|m| format!("@{}", m.username)));
    }
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    if let Some(a) = c.blocking_alert(&subjects) {
        return Err(UiError::conflict(
            "alert",
            format!("sending to {} waits until you have read and acknowledged the alert: {}", a.about, a.text),
        ));
    }
    if let Some(user) = req.to.strip_prefix('@') {
        let user = user.trim();
        let needed = c.new_contact_needed(user)?;
        if needed.is_some() && !req.new {
            return Err(UiError::conflict("new_contact", format!("{user} is new to you: check the name, then start the conversation")));
        }
        if needed.is_some()
            && let Err(e) = c.introduce(user).await
        {
            return Err(failed(&ui, &mut c, &subject, e));
        }
    }
    if let Err(e) = c.send(&target, &req.text).await {
        return Err(failed(&ui, &mut c, &subject, e));
    }
    let id = match req.to.strip_prefix('@') {
        Some(_) => c.conversation_id(&target)?.unwrap_or_default(),
        None => req.to.clone(),
    };
    drop(c);
    ui.changed();
    Ok(Json(json!({"conversation_id": id})))
}

/// A new group.
#[derive(Deserialize)]
pub(crate) struct NewGroup {
    name: String,
    members: Vec<String>,
}

fn users(list: &[String]) -> Vec<String> {
    list.iter().map(|u| u.trim().trim_start_matches('@').to_owned()).filter(|u| !u.is_empty()).collect()
}

/// `POST /api/conversations`: creates a group.
pub(crate) async fn create(State(ui): State<Shared>, Json(req): Json<NewGroup>) -> Reply {
    let mut c = ui.client().await?;
    let name = req.name.trim();
    if name.is_empty() {
        return Err(UiError::usage("give the conversation a name"));
    }
    let id = match c.create_conversation(name, &users(&req.members)).await {
        Ok(id) => id,
        Err(e) => return Err(failed(&ui, &mut c, "", e)),
    };
    drop(c);
    ui.changed();
    Ok(Json(json!({"id": id})))
}

/// What a change of a conversation carries.
#[derive(Deserialize, Default)]
pub(crate) struct Change {
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    on: bool,
    #[serde(default)]
    name: String,
}

/// `POST /api/conversations/{id}/{add|remove|leave|history|rename}`.
pub(crate) async fn change(State(ui): State<Shared>, Path((id, action)): Path<(String, String)>, Json(req): Json<Change>) -> Reply {
    let mut c = ui.client().await?;
    if c.conversation_name(&id).is_none() {
        return Err(UiError::usage("no such conversation on this device"));
    }
    let target = format!("#{id}");
    let r = match action.as_str() {
        "add" => c.add_to(&target, &users(&req.users)).await,
        "remove" => c.remove_from(&target, &users(&req.users)).await,
        "leave" => c.leave(&target).await,
        "history" => c.set_history(&target, req.on).await,
        "rename" => c.rename(&target, req.name.trim()).await,
        _ => return Err(UiError::usage(format!("no such change: {action}"))),
    };
    if let Err(e) = r {
        return Err(failed(&ui, &mut c, &id, e));
    }
    drop(c);
    ui.changed();
    done()
}

/// `GET /api/safety/{user}`: the safety number, grouped, and its QR code as SVG.
pub(crate) async fn safety(State(ui): State<Shared>, Path(user): Path<String>) -> Reply {
    let mut c = ui.client().await?;
    let v = match c.safety_number(&user).await {
        Ok(v) => v,
        Err(e) => return Err(failed(&ui, &mut c, &format!("@{user}"), e)),
    };
    safety_json(&v)
}

fn safety_json(v: &hush_client::SafetyView) -> Reply {
    let svg = qrcode::QrCode::new(v.qr_payload.as_bytes())
        .map(|q| q.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build())
        .unwrap_or_default();
    Ok(Json(json!({
        "user": v.user, "number": hush_core::safety::grouped(&v.number), "qr_payload": v.qr_payload, "qr_svg": svg,
        "verified": v.verified, "key_changed": v.key_changed, "was_verified": v.was_verified,
    })))
}

/// How the person compared: by eye (nothing) or by the other device's QR code.
#[derive(Deserialize, Default)]
pub(crate) struct Confirm {
    #[serde(default)]
    scanned: Option<String>,
}

/// `POST /api/safety/{user}/confirm`.
pub(crate) async fn confirm(State(ui): State<Shared>, Path(user): Path<String>, Json(req): Json<Confirm>) -> Reply {
    let mut c = ui.client().await?;
    let v = match &req.scanned {
        Some(s) => c.confirm_scanned(&user, s).await?,
        None => c.confirm_verified(&user).await?,
    };
    drop(c);
    ui.changed();
    safety_json(&v)
}

/// `POST /api/trust/{user}`: accepts a changed key without comparing safety numbers.
pub(crate) async fn trust(State(ui): State<Shared>, Path(user): Path<String>) -> Reply {
    let mut c = ui.client().await?;
    let message = c.trust(&user)?;
    drop(c);
    ui.changed();
    Ok(Json(json!({"message": message})))
}

/// `GET /api/alerts`: what is not acknowledged yet.
pub(crate) async fn alerts(State(ui): State<Shared>) -> Reply {
    let c = ui.client().await?;
    Ok(Json(json!(c.alerts().iter().map(alert_json).collect::<Vec<_>>())))
}

/// `POST /api/alerts/{id}/ack`.
pub(crate) async fn acknowledge(State(ui): State<Shared>, Path(id): Path<u64>) -> Reply {
    let mut c = ui.client().await?;
    if !c.acknowledge_alert(id)? {
        return Err(UiError::usage("no such alert (acknowledged already?)"));
    }
    drop(c);
    ui.changed();
    done()
}
