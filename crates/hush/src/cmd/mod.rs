//! The client commands: each opens this device's [`hush_client::Client`] from the hush home,
//! calls one library function and prints the result. One module per group of commands.

mod account;
mod audit;
mod chat;
mod conversation;
mod device;
mod files;

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};

use hush_client::Client;

use crate::cli::{AccountCmd, ChatCmd, Command, ConversationCmd, DeviceCmd, FilesCmd, GuardiansCmd, RecoveryCmd};
use crate::passphrase::read as passphrase;
use crate::{client_config, out};

/// What every client command starts from: the hush home and its config.toml.
pub(crate) struct Ctx {
    pub(crate) home: PathBuf,
    config: client_config::ClientConfig,
}

impl Ctx {
    /// The server named by a `--server` flag, or else the home's default.
    fn server(&self, flag: Option<String>) -> anyhow::Result<String> {
        client_config::server(&self.home, &self.config, flag)
    }
}

/// The certificate authorities this command trusts (set once in `run`).
static TRUST: std::sync::OnceLock<hush_client::tls::Trust> = std::sync::OnceLock::new();

fn trust() -> hush_client::tls::Trust {
    TRUST.get().cloned().unwrap_or_default()
}

fn open(home: &Path) -> anyhow::Result<Client> {
    let p = passphrase(false)?;
    let c = Client::open(home, p.0.as_bytes(), &trust())?;
    // Plaintext a killed `get` left is removed by whatever command runs next.
    c.clean_stale_outputs();
    Ok(c)
}

/// Runs a client command (everything but `server`, `demo` and `bench`).
pub(crate) async fn run(home: Option<PathBuf>, ca_cert: Option<PathBuf>, command: Command) -> anyhow::Result<()> {
    let home = home_dir(home)?;
    let config = client_config::load(&home)?;
    let _ = TRUST.set(client_config::trust(&home, &config, ca_cert)?);
    let ctx = Ctx { home, config };
    match command {
        Command::Server(_) | Command::Demo { .. } | Command::Bench(_) => Ok(()),
        Command::Ui { listen, no_browser } => {
            // The passphrase is typed in the app; scripts may give it as for any command.
            let passphrase = std::env::var("HUSH_PASSPHRASE").ok().filter(|_| ctx.home.join("state.hush").exists()).map(zeroize::Zeroizing::new);
            crate::ui::run(crate::ui::Options { home: ctx.home, trust: trust(), listen, open_browser: !no_browser, passphrase }).await
        }
        Command::Account(cmd) => account::run(&ctx, cmd).await,
        Command::Chat(cmd) => chat::run(&ctx, cmd).await,
        Command::Files(cmd) => files::run(&ctx, cmd).await,
        Command::Conversation(cmd) => conversation::conversation(&ctx.home, cmd).await,
        Command::Device(cmd) => device::device(&ctx.home, cmd).await,
        Command::Audit { server, state } => audit::run(&ctx, server, state).await,
    }
}

fn home_dir(cli_home: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(h) = cli_home {
        return Ok(h);
    }
    match std::env::var_os("HOME") {
        Some(h) => Ok(Path::new(&h).join(".hush")),
        None => anyhow::bail!("no home directory: pass --home or set HUSH_HOME"),
    }
}


/// Before sending to (or putting files in, or sharing with) `target`: a user this device
/// has never seen is confirmed first, on a terminal by a question and in scripts by
/// --new, so that a typo of a conversation's name never starts a conversation with a
/// stranger.
async fn confirm_target(c: &mut Client, target: &str, new: bool) -> anyhow::Result<()> {
    if c.new_contact_needed(target)?.is_none() {
        return Ok(());
    }
    // A conversation of that name may be waiting in the inbox.
    c.sync().await?;
    let Some(user) = c.new_contact_needed(target)? else { return Ok(()) };
    if !new {
        let hint = c.did_you_mean(target).map(|s| format!(" (did you mean '{}'?)", hush_core::display::escape(&s))).unwrap_or_default();
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            anyhow::bail!(
                "{user} is neither a conversation nor one of your contacts{hint}; to start a conversation with the user {user}, add --new"
            );
        }
        eprint!("{user} is not one of your contacts{hint}. Start a conversation with the user {user}? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            anyhow::bail!("nothing was sent");
        }
    }
    c.introduce(&user).await?;
    Ok(())
}