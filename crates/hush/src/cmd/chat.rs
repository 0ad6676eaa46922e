//! Messaging commands: send, read, watch, and check who you talk to.

use std::time::Duration;

use super::*;

pub(crate) async fn run(ctx: &Ctx, cmd: ChatCmd) -> anyhow::Result<()> {
    let home = &ctx.home;
    match cmd {
        ChatCmd::Send { to, text, stdin, new } => {
            let texts: Vec<String> = if stdin {
                std::io::stdin().lock().lines().collect::<Result<_, _>>()?
            } else {
                match text {
                    Some(t) => vec![t],
                    None => anyhow::bail!("give the text to send, or --stdin"),
                }
            };
            if texts.is_empty() {
                anyhow::bail!("nothing to send");
            }
            let mut c = open(home)?;
            confirm_target(&mut c, &to, new).await?;
            c.send_many(&to, &texts).await?;
            Ok(())
        }
        ChatCmd::Read { json } => {
            let mut c = open(home)?;
            let mut output = out::Output::new();
            deliver_unread(&mut c, &mut output, json).await
        }
        ChatCmd::Watch { json } => watch(home, json).await,
        ChatCmd::Verify { user, confirm, json } => {
            let mut c = open(home)?;
            let view = if confirm { c.confirm_verified(&user).await? } else { c.safety_number(&user).await? };
            if json {
                println!("{}", serde_json::to_string(&view)?);
                return Ok(());
            }
            if view.key_changed {
                println!("WARNING: {user}'s identity key is not the one you {} before.\n", if view.was_verified { "verified" } else { "saw" });
            }
            println!("Safety number with {user}:\n");
            let groups = hush_core::safety::grouped(&view.number);
            let g: Vec<&str> = groups.split(' ').collect();
            for row in g.chunks(4) {
                println!("    {}", row.join("  "));
            }
            println!();
            if let Ok(code) = qrcode::QrCode::new(view.qr_payload.as_bytes()) {
                println!("{}", code.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
            }
            if confirm {
                println!("{user} is now verified. If {user}'s key ever changes, hush stops sending to them until you verify again.");
            } else if view.verified {
                println!("{user} is verified.");
            } else {
                println!("Compare this with what `hush verify {}` shows on {user}'s device, in person or on a call.", c.username());
                println!("If every digit matches, run: hush verify {user} --confirm");
            }
            Ok(())
        }
        ChatCmd::Trust { user } => {
            let mut c = open(home)?;
            println!("{}", c.trust(&user)?);
            Ok(())
        }
    }
}

/// Syncs, writes each unread message, and marks read only those that reached the reader
/// (all of them, unless the output was closed on the way).
pub(crate) async fn deliver_unread(c: &mut Client, output: &mut out::Output, json: bool) -> anyhow::Result<()> {
    let unread = c.sync_and_peek_unread().await?;
    let mut delivered = 0;
    let mut failed = None;
    for m in &unread {
        match output.deliver(&out::format_message(m, json)) {
            Ok(true) => delivered += 1,
            Ok(false) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    c.mark_read(delivered)?;
    failed.map_or(Ok(()), Err)
}

pub(crate) async fn watch(home: &Path, json: bool) -> anyhow::Result<()> {
    use hush_client::push::{Notifier, Push};
    let p = passphrase(false)?;
    let mut output = out::Output::new();
    let mut c = Client::open(home, p.0.as_bytes(), &trust())?;
    deliver_unread(&mut c, &mut output, json).await?;
    if output.closed() {
        return Ok(());
    }
    let (url, headers) = c.websocket_request()?;
    // Release the home so other hush commands can use it between syncs.
    drop(c);
    // The server answered a moment ago: if the live connection fails now, it is worth
    // retrying, as when it drops later.
    let mut notify: Option<Notifier> = match hush_client::push::connect(&url, headers, &trust()).await {
        Ok(n) => Some(n),
        Err(e) => {
            eprintln!("{e}; reconnecting");
            None
        }
    };
    // While the live connection is down: how long until the next try.
    let mut retry_in = Duration::from_secs(1);
    loop {
        let wait = if notify.is_some() { Duration::from_secs(30) } else { retry_in };
        tokio::select! {
            push = async {
                match notify.as_mut() {
                    Some(n) => n.next().await,
                    None => std::future::pending().await,
                }
            } => match push {
                Push::Inbox => {}
                Push::Replaced => anyhow::bail!(
                    "this device opened more live connections elsewhere (another `hush watch`, or the app) than the server keeps open for one device, so it closed this one, the oldest; stop one of them and run `hush watch` again"
                ),
                Push::Revoked => {
                    // The inbox says why (revoked, or the account disabled by the operator).
                    let mut c = Client::open(home, p.0.as_bytes(), &trust())?;
                    let why = deliver_unread(&mut c, &mut output, json).await.err().map_or_else(|| "this device was revoked".to_owned(), |e| e.to_string());
                    anyhow::bail!("the server closed the live connection: {why}");
                }
                Push::Lost(reason) => {
                    eprintln!("the live connection to the server was lost ({reason}); reconnecting");
                    notify = None;
                    retry_in = Duration::from_secs(1);
                    continue;
                }
            },
            _ = tokio::time::sleep(wait) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let mut c = Client::open(home, p.0.as_bytes(), &trust())?;
        match deliver_unread(&mut c, &mut output, json).await {
            Ok(()) => {}
            // The server is away: keep trying, as the live connection does.
            Err(e) if notify.is_none() && is_unreachable(&e) => {}
            Err(e) if notify.is_none() => anyhow::bail!("the server closed the live connection: {e}"),
            Err(e) => return Err(e),
        }
        if output.closed() {
            return Ok(());
        }
        if notify.is_none() {
            let (url, headers) = c.websocket_request()?;
            drop(c);
            match hush_client::push::connect(&url, headers, &trust()).await {
                Ok(n) => {
                    eprintln!("the live connection is back");
                    notify = Some(n);
                }
                Err(_) => retry_in = (retry_in * 2).min(Duration::from_secs(30)),
            }
        }
    }
}

/// Whether a command failed because the server could not be reached (worth retrying).
fn is_unreachable(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<hush_client::ClientError>(),
        Some(hush_client::ClientError::Api(hush_client::api::ApiError::Unreachable { .. }))
    )
}


