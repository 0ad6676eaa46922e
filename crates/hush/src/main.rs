//! `hush`: the command line, the server (`hush server`) and the demo (`hush demo`).
//!
//! The CLI is thin: every command opens the device's [`hush_client::Client`] from the hush
//! home, calls one library function, and prints the result. Errors are one sentence on
//! standard error and a non-zero exit code.

mod backup_cmd;
mod bench;
mod client_config;
mod demo;
mod out;
mod server_cmd;

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hush_client::{Client, Received};
use zeroize_passphrase::Passphrase;

/// End-to-end encrypted messaging: the server only ever holds ciphertext.
#[derive(Parser)]
#[command(name = "hush", version, about)]
struct Cli {
    /// The hush home of this device (keys and state, sealed with your passphrase).
    #[arg(long, global = true, env = "HUSH_HOME")]
    home: Option<PathBuf>,
    /// Trust this private CA certificate (PEM) for an https:// server, besides the system's
    /// authorities (default: `ca_cert` in the home's config.toml).
    #[arg(long, global = true, env = "HUSH_CA_CERT")]
    ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a hush server (`hush server [flags]`), or an operator's command on the server
    /// running on this machine (`hush server users`, `invite`, `disable`...).
    Server(Box<server_cmd::ServerCli>),
    /// Create an account (identity key and this first device) on a server.
    Register {
        /// The username: 3-32 lowercase letters, digits, '_', '-', '.'.
        username: String,
        /// The server, e.g. `https://hush.example.org` (default: `server` in the home's config.toml).
        #[arg(long, env = "HUSH_SERVER")]
        server: Option<String>,
        /// Print the recovery phrase without asking for some of its words back (scripts).
        #[arg(long)]
        skip_phrase_check: bool,
        /// An invitation token from the server's operator (needed when the server registers
        /// new accounts by invitation only).
        #[arg(long, env = "HUSH_INVITE")]
        invite: Option<String>,
    },
    /// Restore your account on this (new) device from your 24-word recovery phrase, or
    /// with your guardians' help.
    Recover {
        /// Your username.
        username: String,
        /// The server (default: `server` in the home's config.toml).
        #[arg(long, env = "HUSH_SERVER")]
        server: Option<String>,
        /// Ask your guardians instead of typing the phrase.
        #[arg(long)]
        with_guardians: bool,
        /// How long to wait for guardians, in seconds.
        #[arg(long, default_value_t = 900)]
        wait: u64,
    },
    /// Recovery guardians: name them, or approve a friend's recovery.
    #[command(subcommand)]
    Recovery(RecoveryCmd),
    /// Change the passphrase that seals this device's state.
    Passphrase,
    /// Show this device's account.
    Whoami {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Send a message to a user or a conversation.
    Send {
        /// @USER (your one-to-one conversation with them), #CONVERSATION (a name or id), or
        /// a bare name that is one or the other.
        to: String,
        /// The text. Omit it with --stdin.
        text: Option<String>,
        /// Send each line of standard input as one message, in order.
        #[arg(long, conflicts_with = "text")]
        stdin: bool,
        /// TO is a user you have not talked to yet: start a conversation with them (a
        /// terminal asks instead).
        #[arg(long)]
        new: bool,
    },
    /// Print messages received since the last read.
    Read {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Print messages as they arrive (Ctrl-C to stop).
    Watch {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Encrypt a file and upload it to your drive (PATH) or a conversation's files
    /// (CONVERSATION:PATH, where a user names your one-to-one conversation).
    Put {
        /// The local file.
        file: PathBuf,
        /// Where it goes: a folder, or a path (a second put adds a version). Default: the
        /// drive's root, under the local name.
        dest: Option<String>,
        /// How many versions of the file to keep.
        #[arg(long, default_value_t = hush_client::drive::DEFAULT_KEEP_VERSIONS)]
        keep_versions: usize,
        /// CONVERSATION names a user you have not talked to yet: start a conversation with
        /// them (a terminal asks instead).
        #[arg(long)]
        new: bool,
        #[command(flatten)]
        transfer: TransferArgs,
    },
    /// Download, check and decrypt a file; nothing is written unless every check passed.
    Get {
        /// PATH in your drive or CONVERSATION:PATH.
        src: String,
        /// The local file to write, or - for standard output. A link, a device or a pipe is
        /// written through, never replaced.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        /// An earlier kept version (see `hush ls`).
        #[arg(long)]
        version: Option<u64>,
        #[command(flatten)]
        transfer: TransferArgs,
    },
    /// List a folder of your drive or of a conversation's files.
    Ls {
        /// PATH or CONVERSATION:PATH (default: your drive's root).
        src: Option<String>,
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Make a folder (and missing parents).
    Mkdir {
        /// PATH or CONVERSATION:PATH.
        path: String,
    },
    /// Move or rename a file or folder inside one space.
    Mv {
        /// What to move.
        src: String,
        /// Where: a folder to move into, or a new path.
        dest: String,
    },
    /// Remove a file, or a folder with --recursive.
    Rm {
        /// PATH or CONVERSATION:PATH.
        path: String,
        /// Remove a folder and everything in it.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Share a file or folder with a user or a conversation (no re-upload).
    Share {
        /// PATH or CONVERSATION:PATH.
        src: String,
        /// @USER, #CONVERSATION, or a bare name that is one or the other.
        #[arg(long)]
        with: String,
        /// WITH is a user you have not talked to yet: start a conversation with them (a
        /// terminal asks instead).
        #[arg(long)]
        new: bool,
    },
    /// Take back a file or folder shared with a user or a conversation.
    Unshare {
        /// PATH or CONVERSATION:PATH, as it was shared.
        src: String,
        /// The username or conversation it was shared with.
        #[arg(long)]
        from: String,
    },
    /// Write a file as a standard age file for an age recipient: `age -d -i KEY` opens it.
    Export {
        /// PATH or CONVERSATION:PATH.
        src: String,
        /// The age public key (age1...).
        #[arg(long)]
        age_recipient: String,
        /// The file to write, or - for standard output. A link, a device or a pipe is written
        /// through, never replaced.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        transfer: TransferArgs,
    },
    /// Conversations: create, add, remove, leave, list, members.
    #[command(subcommand)]
    Conversation(ConversationCmd),
    /// Show the safety number (and QR code) you share with USER; compare it with theirs.
    Verify {
        /// The other user.
        user: String,
        /// The numbers matched: mark USER's current key as verified.
        #[arg(long)]
        confirm: bool,
        /// One JSON object instead of the number and QR code.
        #[arg(long)]
        json: bool,
    },
    /// Accept a contact's changed identity key after checking it with them.
    Trust {
        /// The user.
        user: String,
    },
    /// This account's devices: link a new one, approve it, list them.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Check, as an independent auditor, that a server's key directory only ever grew.
    Audit {
        /// The server (default: `server` in the home's config.toml).
        #[arg(long, env = "HUSH_SERVER")]
        server: Option<String>,
        /// Where to remember the last audited root (default: in the hush home).
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Start a server in a temporary directory, run three people through one-to-one and
    /// group chats, and show that the server holds none of the plaintexts.
    Demo,
    /// Measure messages per second and send-to-receive latency through a local server.
    Bench(bench::BenchArgs),
}

/// How a file transfer behaves.
#[derive(Args, Clone, Copy)]
struct TransferArgs {
    /// At most this many bytes per second (suffixes K, M, G: binary units).
    #[arg(long, value_parser = parse_rate)]
    limit_rate: Option<u64>,
    /// No progress bar even on a terminal.
    #[arg(long)]
    quiet: bool,
}

impl TransferArgs {
    fn options(self) -> hush_client::drive::TransferOptions {
        hush_client::drive::TransferOptions { limit_rate: self.limit_rate, progress: !self.quiet && std::io::stderr().is_terminal() }
    }
}

fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1024u64),
        Some('M') => (&t[..t.len() - 1], 1024 * 1024),
        Some('G') => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    match num.trim().parse::<u64>() {
        Ok(n) if n > 0 => n.checked_mul(mult).ok_or_else(|| "that rate is too large".to_owned()),
        _ => Err(format!("\"{s}\" is not a rate; use a number of bytes per second such as 500K or 8M")),
    }
}

#[derive(Subcommand)]
enum ConversationCmd {
    /// Create a group conversation.
    Create {
        /// Its name (only members see it).
        name: String,
        /// Comma-separated usernames.
        #[arg(long, value_delimiter = ',', required = true)]
        with: Vec<String>,
    },
    /// Add users to a conversation.
    Add {
        /// Conversation name or id.
        conversation: String,
        /// Usernames.
        #[arg(value_delimiter = ',', required = true)]
        users: Vec<String>,
    },
    /// Remove users from a conversation.
    Remove {
        /// Conversation name or id.
        conversation: String,
        /// Usernames.
        #[arg(value_delimiter = ',', required = true)]
        users: Vec<String>,
        /// Also re-encrypt the conversation's existing files under new keys (files added
        /// afterwards are closed to the removed users either way).
        #[arg(long)]
        reencrypt: bool,
    },
    /// Leave a conversation.
    Leave {
        /// Conversation name or id.
        conversation: String,
    },
    /// Let devices and members who join receive earlier messages (on), or not (off, the default).
    History {
        /// Conversation name or id.
        conversation: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        setting: String,
    },
    /// Rename a group conversation (every member is told who renamed it).
    Rename {
        /// Conversation name or id.
        conversation: String,
        /// The new name.
        new_name: String,
    },
    /// List conversations.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Re-create a conversation that split into two versions: a new one with the same
    /// people, name and settings; everyone's old one points to it.
    Heal {
        /// Conversation name or id.
        conversation: String,
    },
    /// List a conversation's members and their devices.
    Members {
        /// Conversation name or id, or the other user of a one-to-one conversation.
        conversation: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RecoveryCmd {
    /// Guardians of your account.
    #[command(subcommand)]
    Guardians(GuardiansCmd),
    /// As a guardian: approve USER's recovery after confirming it with them out of band.
    Approve {
        /// Whose recovery.
        user: String,
        /// The code their new device shows.
        code: String,
    },
}

#[derive(Subcommand)]
enum GuardiansCmd {
    /// Split your recovery among these users; THRESHOLD of them together can restore it.
    Set {
        /// Usernames.
        #[arg(required = true, num_args = 2..)]
        users: Vec<String>,
        /// How many guardians must approve.
        #[arg(long)]
        threshold: usize,
    },
}

#[derive(Subcommand)]
enum DeviceCmd {
    /// On a NEW device: ask to join USERNAME's account; prints a code to approve.
    Link {
        /// Your username.
        username: String,
        /// The server (default: `server` in the home's config.toml).
        #[arg(long, env = "HUSH_SERVER")]
        server: Option<String>,
    },
    /// Revoke one of your other devices (lost or stolen): it is removed from every
    /// conversation and can read nothing sent afterwards.
    Revoke {
        /// The device id (see `hush device list`).
        device_id: String,
    },
    /// On an EXISTING device: approve the new device showing CODE.
    Approve {
        /// The code the new device shows.
        code: String,
    },
    /// List this account's devices.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

mod zeroize_passphrase {
    /// A passphrase from `HUSH_PASSPHRASE` or the terminal; never printed.
    pub struct Passphrase(pub zeroize::Zeroizing<String>);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hush: can't start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // An error may quote a name someone else chose (a file, a conversation).
            eprintln!("hush: {}", hush_core::display::escape(&e.to_string()));
            ExitCode::FAILURE
        }
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

fn passphrase(confirm: bool) -> anyhow::Result<Passphrase> {
    if let Ok(p) = std::env::var("HUSH_PASSPHRASE") {
        return Ok(Passphrase(zeroize::Zeroizing::new(p)));
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no passphrase: set HUSH_PASSPHRASE or run in a terminal");
    }
    let p = zeroize::Zeroizing::new(rpassword::prompt_password("hush passphrase: ")?);
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("again: ")?);
        if *again != *p {
            anyhow::bail!("the two passphrases differ");
        }
    }
    Ok(Passphrase(p))
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(args) => return server_cmd::run(*args).await,
        Command::Demo => return demo::run().await,
        Command::Bench(args) => return bench::run(args).await,
        _ => {}
    }
    let home = home_dir(cli.home)?;
    let config = client_config::load(&home)?;
    let _ = TRUST.set(client_config::trust(&home, &config, cli.ca_cert)?);
    let server_or_default = |flag: Option<String>| client_config::server(&home, &config, flag);
    match cli.command {
        Command::Server(_) | Command::Demo | Command::Bench(_) => Ok(()),
        Command::Audit { server, state } => {
            let server = server_or_default(server)?;
            let state_path = state.unwrap_or_else(|| {
                let name: String = server.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
                home.join(format!("audit-{name}.json"))
            });
            let previous: Option<hush_client::kt::AuditState> = match std::fs::read(&state_path) {
                Ok(b) => Some(serde_json::from_slice(&b).map_err(|_| anyhow::anyhow!("the audit state {} is damaged", state_path.display()))?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => anyhow::bail!("can't read {}: {e}", state_path.display()),
            };
            let report = hush_client::kt::audit(&server, &trust(), previous.as_ref()).await?;
            if let Some(dir) = state_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = state_path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(&report.state)?)?;
            std::fs::rename(&tmp, &state_path)?;
            println!(
                "audited {server}: epochs {} to {} are append-only (root {})",
                report.from,
                report.to,
                report.state.root.hash[..8].iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            Ok(())
        }
        Command::Register { username, server, skip_phrase_check, invite } => {
            let interactive = std::io::stdin().is_terminal();
            if !interactive && !skip_phrase_check {
                anyhow::bail!(
                    "registration shows a recovery phrase to write down and asks for some of its words back; run it in a terminal, or pass --skip-phrase-check in scripts"
                );
            }
            let server = server_or_default(server)?;
            let p = passphrase(true)?;
            let mut c = Client::register_invited(&home, &server, &trust(), &username, p.0.as_bytes(), invite.as_deref()).await?;
            client_config::remember(&home, &server, &trust())?;
            println!("registered {} on {} (device {})", c.username(), c.server(), c.device_id());
            println!("identity key fingerprint: {}", c.fingerprint());
            if let Some(phrase) = c.take_recovery_phrase() {
                show_and_confirm_phrase(&phrase, !skip_phrase_check)?;
            }
            Ok(())
        }
        Command::Recover { username, server, with_guardians: true, wait } => {
            let server = server_or_default(server)?;
            let p = passphrase(true)?;
            let c = hush_client::recover_with_guardians(&home, &server, &trust(), &username, p.0.as_bytes(), std::time::Duration::from_secs(wait), |code| {
                println!("Ask your guardians to confirm it is you (call them), then to run:\n\n    hush recovery approve {username} {code}\n");
                println!("Waiting for their approvals...");
            })
            .await?;
            client_config::remember(&home, &server, &trust())?;
            println!("recovered {} on {} as new device {}", c.username(), c.server(), c.device_id());
            Ok(())
        }
        Command::Recovery(RecoveryCmd::Guardians(GuardiansCmd::Set { users, threshold })) => {
            let mut c = open(&home)?;
            c.set_guardians(&users, threshold).await?;
            println!("{threshold} of {} ({}) can now restore your account together; earlier guardians' shares no longer work", users.len(), users.join(", "));
            Ok(())
        }
        Command::Recovery(RecoveryCmd::Approve { user, code }) => {
            let mut c = open(&home)?;
            c.approve_guardian(&user, &code).await?;
            println!("sent your share of {user}'s recovery to their new device");
            Ok(())
        }
        Command::Recover { username, server, .. } => {
            let server = server_or_default(server)?;
            let phrase = match std::env::var("HUSH_RECOVERY_PHRASE") {
                Ok(p) => zeroize::Zeroizing::new(p),
                Err(_) if std::io::stdin().is_terminal() => {
                    zeroize::Zeroizing::new(rpassword::prompt_password("recovery phrase (24 words): ")?)
                }
                Err(_) => anyhow::bail!("no recovery phrase: set HUSH_RECOVERY_PHRASE or run in a terminal"),
            };
            let p = passphrase(true)?;
            let c = hush_client::recover(&home, &server, &trust(), &username, &phrase, p.0.as_bytes()).await?;
            client_config::remember(&home, &server, &trust())?;
            println!("recovered {} on {} as new device {}", c.username(), c.server(), c.device_id());
            println!("your contacts and their verification are back; your conversations add this device as their members sync");
            println!("if a lost device may be in someone else's hands, revoke it: hush device list, then hush device revoke ID");
            Ok(())
        }
        Command::Passphrase => {
            let mut c = open(&home)?;
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
        Command::Whoami { json } => {
            let c = open(&home)?;
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
        Command::Send { to, text, stdin, new } => {
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
            let mut c = open(&home)?;
            confirm_target(&mut c, &to, new).await?;
            c.send_many(&to, &texts).await?;
            Ok(())
        }
        Command::Read { json } => {
            let mut c = open(&home)?;
            let mut output = out::Output::new();
            deliver_unread(&mut c, &mut output, json).await
        }
        Command::Watch { json } => watch(&home, json).await,
        Command::Conversation(cmd) => conversation(&home, cmd).await,
        Command::Put { file, dest, keep_versions, new, transfer } => {
            let mut c = open(&home)?;
            if let Some((conv, _)) = dest.as_deref().and_then(|d| d.split_once(':'))
                && !conv.is_empty()
                && !conv.contains('/')
            {
                confirm_target(&mut c, conv, new).await?;
            }
            let r = c.put(&file, dest.as_deref(), keep_versions, transfer.options()).await?;
            if let Some(from) = r.resumed_from {
                println!("continued an interrupted upload from {}", hush_client::drive::human(from));
            }
            println!("put {} ({}, version {})", r.location, hush_client::drive::human(r.size), r.version);
            Ok(())
        }
        Command::Get { src, output, force, version, transfer } => {
            let mut c = open(&home)?;
            let dest = destination(output, force);
            let r = c.get(&src, &dest, version, transfer.options()).await?;
            let mut report = String::new();
            if let Some(from) = r.resumed_from {
                report.push_str(&format!("continued an interrupted download from {}\n", hush_client::drive::human(from)));
            }
            report.push_str(&format!("wrote {} ({}), checked against its signed manifest", dest.describe(), hush_client::drive::human(r.size)));
            say(&dest, &report);
            Ok(())
        }
        Command::Export { src, age_recipient, output, force, transfer } => {
            let mut c = open(&home)?;
            let dest = destination(output, force);
            let r = c.export(&src, &age_recipient, &dest, transfer.options()).await?;
            let shown = dest.describe();
            say(
                &dest,
                &format!(
                    "wrote {shown} ({} of content) as an age file; open it with: age -d -i YOUR_KEY_FILE {}",
                    hush_client::drive::human(r.size),
                    if matches!(dest, hush_client::drive::Destination::Stdout) { "FILE" } else { shown.as_str() }
                ),
            );
            Ok(())
        }
        Command::Ls { src, json } => {
            let mut c = open(&home)?;
            let (_, items) = c.ls(src.as_deref().unwrap_or("")).await?;
            if json {
                let mut items = items;
                for i in &mut items {
                    i.name = hush_core::display::escape(&i.name).into_owned();
                    i.path = hush_core::display::escape(&i.path).into_owned();
                }
                println!("{}", serde_json::to_string(&items)?);
            } else if items.is_empty() {
                println!("(empty)");
            } else {
                for i in items {
                    let name = hush_core::display::escape(&i.name);
                    if i.kind == "folder" {
                        println!("{name}/");
                    } else {
                        println!(
                            "{:<32} {:>10}  v{}  {}  {}",
                            name,
                            hush_client::drive::human(i.size),
                            i.version,
                            format_date(i.modified_at),
                            i.author_shown
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Mkdir { path } => {
            let mut c = open(&home)?;
            c.mkdir(&path).await?;
            println!("made {path}");
            Ok(())
        }
        Command::Mv { src, dest } => {
            let mut c = open(&home)?;
            c.mv(&src, &dest).await?;
            println!("moved {src} to {dest}");
            Ok(())
        }
        Command::Rm { path, recursive } => {
            let mut c = open(&home)?;
            let n = c.rm(&path, recursive).await?;
            println!("removed {path}{}", if n > 1 { format!(" ({n} entries)") } else { String::new() });
            Ok(())
        }
        Command::Share { src, with, new } => {
            let mut c = open(&home)?;
            confirm_target(&mut c, &with, new).await?;
            let to = c.share(&src, &with).await?;
            println!("shared {src} with {with}: it is {}{} there", to.label, hush_core::display::escape(&to.path));
            Ok(())
        }
        Command::Unshare { src, from } => {
            let mut c = open(&home)?;
            c.unshare(&src, &from).await?;
            println!("took {src} back from {from}");
            Ok(())
        }
        Command::Verify { user, confirm, json } => {
            let mut c = open(&home)?;
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
        Command::Trust { user } => {
            let mut c = open(&home)?;
            println!("{}", c.trust(&user)?);
            Ok(())
        }
        Command::Device(cmd) => device(&home, cmd).await,
    }
}

/// `-o -` is standard output; anything else a file.
fn destination(output: PathBuf, force: bool) -> hush_client::drive::Destination {
    if output.as_os_str() == "-" {
        hush_client::drive::Destination::Stdout
    } else {
        hush_client::drive::Destination::File { path: output, force }
    }
}

/// What `get` and `export` report: on standard error when the file itself went to
/// standard output.
fn say(dest: &hush_client::drive::Destination, text: &str) {
    if matches!(dest, hush_client::drive::Destination::Stdout) {
        eprintln!("{text}");
    } else {
        println!("{text}");
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

/// Shows the recovery phrase once and, on a terminal, asks for three of its words back.
fn show_and_confirm_phrase(phrase: &hush_core::recovery::RecoveryPhrase, confirm: bool) -> anyhow::Result<()> {
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

fn rand_index(n: usize) -> usize {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(7);
    (nanos as usize / 1000) % n
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Syncs, writes each unread message, and marks read only those that reached the reader
/// (all of them, unless the output was closed on the way).
async fn deliver_unread(c: &mut Client, output: &mut out::Output, json: bool) -> anyhow::Result<()> {
    let unread = c.sync_and_peek_unread().await?;
    let mut delivered = 0;
    let mut failed = None;
    for m in &unread {
        match output.deliver(&format_message(m, json)) {
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

/// One message as the terminal shows it, or as one JSON line; ends with a newline. Every
/// field that came from someone else is escaped (see [`hush_core::display`]).
pub(crate) fn format_message(m: &Received, json: bool) -> String {
    use hush_core::display::{escape, escape_lines};
    if json {
        return format!(
            "{}\n",
            serde_json::json!({
                "conversation": escape(&m.conversation), "conversation_id": m.conversation_id, "sender": escape(&m.sender),
                "sender_device": escape(&m.sender_device), "kind": m.kind, "text": escape_lines(&m.text, ""), "sent_at": m.sent_at,
                "received_at": m.received_at, "late": m.late,
            })
        );
    }
    let time = format_time(m.sent_at);
    let (conv, sender) = (escape(&m.conversation), escape(&m.sender));
    // Continuation lines of a message are indented: they never start like a line of
    // their own ("[12:00:00 UTC] ...").
    let text = escape_lines(&m.text, "        ");
    match m.kind.as_str() {
        "text" if m.late => format!("[{time}] {conv} | {sender} (late): {text}\n"),
        "text" => format!("[{time}] {conv} | {sender}: {text}\n"),
        "warning" => format!("[{time}] {conv} | WARNING: {}\n", escape(&m.text)),
        "history" => format!("[{time}] {conv} | (earlier) {sender}: {text}\n"),
        _ => format!("[{time}] {conv} | * {}\n", escape(&m.text)),
    }
}

pub(crate) fn print_message(m: &Received, json: bool) {
    print!("{}", format_message(m, json));
}

/// `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn format_date(ms: i64) -> String {
    hush_core::display::date_utc(ms)
}

fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02} UTC")
}

async fn conversation(home: &Path, cmd: ConversationCmd) -> anyhow::Result<()> {
    let mut c = open(home)?;
    match cmd {
        ConversationCmd::Create { name, with } => {
            let id = c.create_conversation(&name, &with).await?;
            println!("created {name} ({})", &id[..12]);
        }
        ConversationCmd::Add { conversation, users } => {
            c.add_to(&conversation, &users).await?;
            println!("added {} to {conversation}", users.join(", "));
        }
        ConversationCmd::Remove { conversation, users, reencrypt } => {
            c.remove_from(&conversation, &users).await?;
            println!("removed {} from {conversation}", users.join(", "));
            if reencrypt {
                let n = c.reencrypt_space(&conversation).await?;
                println!("re-encrypted {n} file version(s) of {conversation} under new keys");
            }
        }
        ConversationCmd::History { conversation, setting } => {
            let on = setting == "on";
            c.set_history(&conversation, on).await?;
            if on {
                println!("history is on in {conversation}: devices and members who join from now on receive earlier messages from the member who adds them");
            } else {
                println!("history is off in {conversation}: whoever joins sees only what is sent after");
            }
        }
        ConversationCmd::Rename { conversation, new_name } => {
            c.rename(&conversation, &new_name).await?;
            println!("renamed {conversation} to {new_name}");
        }
        ConversationCmd::Heal { conversation } => {
            let id = c.heal(&conversation).await?;
            println!("re-created {conversation} ({}) with everyone in it; earlier messages stay in the old one", &id[..12]);
        }
        ConversationCmd::Leave { conversation } => {
            c.leave(&conversation).await?;
            println!("left {conversation}");
        }
        ConversationCmd::List { json } => {
            c.sync().await?;
            for (meta, members) in c.conversations() {
                let users: std::collections::BTreeSet<_> =
                    members.iter().map(|m| hush_core::display::escape(&m.username).into_owned()).collect();
                let safe_name = hush_core::display::escape(&meta.name);
                let replaced_by = c.replaced_by(&meta.id);
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"id": meta.id, "name": safe_name, "direct": meta.direct, "active": meta.active, "members": users, "replaced_by": replaced_by})
                    );
                } else {
                    let name = if meta.direct { "(one-to-one)".to_owned() } else { safe_name.into_owned() };
                    let state = match &replaced_by {
                        Some(new) => format!(" [replaced by {}]", &new[..new.len().min(12)]),
                        None if meta.active => String::new(),
                        None => " [left]".to_owned(),
                    };
                    println!("{} {name}{state}: {}", &meta.id[..12], users.into_iter().collect::<Vec<_>>().join(", "));
                }
            }
        }
        ConversationCmd::Members { conversation, json } => {
            c.sync().await?;
            for mut m in c.members(&conversation)? {
                m.username = hush_core::display::escape(&m.username).into_owned();
                m.device_id = hush_core::display::escape(&m.device_id).into_owned();
                if json {
                    println!("{}", serde_json::to_string(&m)?);
                } else {
                    println!("{} device {} (identity {})", m.username, m.device_id, m.fingerprint);
                }
            }
        }
    }
    Ok(())
}

async fn device(home: &Path, cmd: DeviceCmd) -> anyhow::Result<()> {
    match cmd {
        DeviceCmd::Link { username, server } => {
            let server = client_config::server(home, &client_config::load(home)?, server)?;
            let p = passphrase(true)?;
            let c = hush_client::link::link_new_device(home, &server, &trust(), &username, p.0.as_bytes(), |code| {
                println!("On a device already signed in as {username}, run:\n\n    hush device approve {code}\n");
                println!("Waiting for approval...");
            })
            .await?;
            client_config::remember(home, &server, &trust())?;
            println!("linked: {} device {}", c.username(), c.device_id());
            Ok(())
        }
        DeviceCmd::Approve { code } => {
            let mut c = open(home)?;
            let id = hush_client::link::approve(&mut c, &code).await?;
            println!("approved device {id}; it joins your conversations as they sync");
            Ok(())
        }
        DeviceCmd::Revoke { device_id } => {
            let mut c = open(home)?;
            c.revoke_device(&device_id).await?;
            println!("revoked device {device_id}: it is out of your conversations and the key directory");
            Ok(())
        }
        DeviceCmd::List { json } => {
            let mut c = open(home)?;
            for (id, this) in c.devices().await? {
                let id = hush_core::display::escape(&id);
                if json {
                    println!("{}", serde_json::json!({"device_id": id, "this_device": this}));
                } else {
                    println!("{id}{}", if this { " (this device)" } else { "" });
                }
            }
            Ok(())
        }
    }
}

async fn watch(home: &Path, json: bool) -> anyhow::Result<()> {
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
    let mut notify = hush_client::push::connect(&url, headers, &trust()).await?;
    loop {
        tokio::select! {
            ev = notify.next() => {
                if !ev { anyhow::bail!("the server closed the live connection"); }
            }
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let mut c = Client::open(home, p.0.as_bytes(), &trust())?;
        deliver_unread(&mut c, &mut output, json).await?;
        if output.closed() {
            return Ok(());
        }
    }
}
