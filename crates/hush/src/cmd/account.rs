//! Account commands: create, recover, guard and look at this device's account.

use super::*;

pub(crate) async fn run(ctx: &Ctx, cmd: AccountCmd) -> anyhow::Result<()> {
    let home = &ctx.home;
    let server_or_default = |flag: Option<String>| ctx.server(flag);
    match cmd {
        AccountCmd::Register { username, server, skip_phrase_check, invite } => {
            let interactive = std::io::stdin().is_terminal();
            if !interactive && !skip_phrase_check {
                anyhow::bail!(
                    "registration shows a recovery phrase to write down and asks for some of its words back; run it in a terminal, or pass --skip-phrase-check in scripts"
                );
            }
            let server = server_or_default(server)?;
            let p = passphrase(true)?;
            let mut c = Client::register_invited(home, &server, &trust(), &username, p.0.as_bytes(), invite.as_deref()).await?;
            client_config::remember(home, &server, &trust())?;
            println!("registered {} on {} (device {})", c.username(), c.server(), c.device_id());
            println!("identity key fingerprint: {}", c.fingerprint());
            if let Some(phrase) = c.take_recovery_phrase() {
                show_and_confirm_phrase(&phrase, !skip_phrase_check)?;
            }
            Ok(())
        }
        AccountCmd::Recover { username, server, with_guardians: true, wait } => {
            let server = server_or_default(server)?;
            let p = passphrase(true)?;
            let c = hush_client::recover_with_guardians(home, &server, &trust(), &username, p.0.as_bytes(), std::time::Duration::from_secs(wait), |code| {
                println!("Ask your guardians to confirm it is you (call them), then to run:\n\n    hush recovery approve {username} {code}\n");
                println!("Waiting for their approvals...");
            })
            .await?;
            client_config::remember(home, &server, &trust())?;
            println!("recovered {} on {} as new device {}", c.username(), c.server(), c.device_id());
            Ok(())
        }
        AccountCmd::Recover { username, server, .. } => {
            let server = server_or_default(server)?;
            let phrase = match std::env::var("HUSH_RECOVERY_PHRASE") {
                Ok(p) => zeroize::Zeroizing::new(p),
                Err(_) if std::io::stdin().is_terminal() => {
                    zeroize::Zeroizing::new(rpassword::prompt_password("recovery phrase (24 words): ")?)
                }
                Err(_) => anyhow::bail!("no recovery phrase: set HUSH_RECOVERY_PHRASE or run in a terminal"),
            };
            let p = passphrase(true)?;
            let c = hush_client::recover(home, &server, &trust(), &username, &phrase, p.0.as_bytes()).await?;
            client_config::remember(home, &server, &trust())?;
            println!("recovered {} on {} as new device {}", c.username(), c.server(), c.device_id());
            println!("your contacts and their verification are back; your conversations add this device as their members sync");
            println!("if a lost device may be in someone else's hands, revoke it: hush device list, then hush device revoke ID");
            Ok(())
        }
        AccountCmd::Recovery(RecoveryCmd::Guardians(GuardiansCmd::Set { users, threshold })) => {
            let mut c = open(home)?;
            c.set_guardians(&users, threshold).await?;
            println!("{threshold} of {} ({}) can now restore your account together; earlier guardians' shares no longer work", users.len(), users.join(", "));
            Ok(())
        }
        AccountCmd::Recovery(RecoveryCmd::Approve { user, code }) => {
            let mut c = open(home)?;
            c.approve_guardian(&user, &code).await?;
            println!("sent your share of {user}'s recovery to their new device");
            Ok(())
        }
        AccountCmd::Passphrase => {
            let mut c = open(home)?;
            let new = match std::env::var("HUSH_NEW_PASSPHRASE") {
                Ok(p) => zeroize::Zeroizing::new(p),
                Err(_) if std::io::stdin().is_terminal() => {
                    let a = zeroize::Zeroizing::new(rpassword::prompt_password("new passphrase: ")?);
                    let b = zeroize::Zeroizing::new(rpassword::prompt_password("again: ")?);
                    if *a != *b {
                        anyhow::bail!("the two passphrases differ");
                    }
                    a
                }
                Err(_) => anyhow::bail!("no new passphrase: set HUSH_NEW_PASSPHRASE or run in a terminal"),
            };
            c.change_passphrase(new.as_bytes())?;
            println!("this device's state is now sealed with the new passphrase");
            Ok(())
        }
        AccountCmd::Whoami { json } => {
            let c = open(home)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"username": c.username(), "device_id": c.device_id(), "server": c.server(), "fingerprint": c.fingerprint(), "home": c.home()})
                );
            } else {
                println!("{} on {}\ndevice {}\nidentity key fingerprint: {}", c.username(), c.server(), c.device_id(), c.fingerprint());
            }
            Ok(())
        }
    }
}

/// Shows the recovery phrase once and, on a terminal, asks for three of its words back.
pub(crate) fn show_and_confirm_phrase(phrase: &hush_core::recovery::RecoveryPhrase, confirm: bool) -> anyhow::Result<()> {
    let words = phrase.words();
    println!("\nYour recovery phrase. Write it down and keep it safe: it is the only way back into");
    println!("your account if you lose every device, and hush will not show it again.\n");
    for (i, row) in words.chunks(6).enumerate() {
        let line: Vec<String> = row.iter().enumerate().map(|(j, w)| format!("{:>2}. {w:<9}", i * 6 + j + 1)).collect();
        println!("  {}", line.join(" "));
    }
    println!();
    if !confirm {
        return Ok(());
    }
    let first = rand_index(24);
    let picks = [first, (first + 7) % 24, (first + 16) % 24];
    for &i in &picks {
        loop {
            let answer = rpassword::prompt_password(format!("word #{}: ", i + 1))?;
            if answer.trim().eq_ignore_ascii_case(words[i]) {
                break;
            }
            println!("that is not word #{}; look at your copy and try again", i + 1);
        }
    }
    println!("recovery phrase confirmed");
    Ok(())
}

pub(crate) fn rand_index(n: usize) -> usize {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(7);
    (nanos as usize / 1000) % n
}
