//! The command line: every command, its arguments and their help text (clap).

use std::path::PathBuf;

use std::io::IsTerminal as _;

use clap::{Args, Parser, Subcommand};

use crate::{bench, server_cmd};

#[derive(Parser)]
#[command(name = "hush", version, about)]
pub(crate) struct Cli {
    /// The hush home of this device (keys and state, sealed with your passphrase).
    #[arg(long, global = true, env = "HUSH_HOME")]
    pub(crate) home: Option<PathBuf>,
    /// Trust this private CA certificate (PEM) for an https:// server, besides the system's
    /// authorities (default: `ca_cert` in the home's config.toml).
    #[arg(long, global = true, env = "HUSH_CA_CERT")]
    pub(crate) ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run a hush server (`hush server [flags]`), or an operator's command on the server
    /// running on this machine (`hush server users`, `invite`, `disable`...).
    Server(Box<server_cmd::ServerCli>),
    // Account commands: create, recover, guard and look at this device's account.
    #[command(flatten)]
    Account(AccountCmd),
    // Messaging commands: send, read, watch, and check who you talk to.
    #[command(flatten)]
    Chat(ChatCmd),
    // File commands: the drive and each conversation's files.
    #[command(flatten)]
    Files(FilesCmd),
    /// Conversations: create, add, remove, leave, list, members.
    #[command(subcommand)]
    Conversation(ConversationCmd),
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
    /// Run the app: a web interface for this device on a loopback address, for as long as
    /// this runs. It prints (and opens, where there is a desktop) an address that works once.
    Ui {
        /// Where the app listens (a loopback address only).
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
        /// Don't try to open a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Start a server in a temporary directory, run three people through one-to-one and
    /// group chats, a file, a safety-number check and a tampering server caught, and show
    /// that the server holds none of the plaintexts.
    Demo {
        /// Then leave the server and the three people running, each in the app, and print
        /// one address per person.
        #[arg(long)]
        ui: bool,
    },
    /// Measure messages per second and send-to-receive latency through a local server.
    Bench(bench::BenchArgs),
}

/// Account commands: create, recover, guard and look at this device's account.
#[derive(Subcommand)]
pub(crate) enum AccountCmd {
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
}

/// Messaging commands: send, read, watch, and check who you talk to.
#[derive(Subcommand)]
pub(crate) enum ChatCmd {
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
}

/// File commands: the drive and each conversation's files.
#[derive(Subcommand)]
pub(crate) enum FilesCmd {
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
}

/// How a file transfer behaves.
#[derive(Args, Clone, Copy)]
pub(crate) struct TransferArgs {
    /// At most this many bytes per second (suffixes K, M, G: binary units).
    #[arg(long, value_parser = parse_rate)]
    pub(crate) limit_rate: Option<u64>,
    /// No progress bar even on a terminal.
    #[arg(long)]
    pub(crate) quiet: bool,
}

impl TransferArgs {
    /// A progress bar only on a terminal, and not with `--quiet`.
    pub(crate) fn options(self) -> hush_client::drive::TransferOptions {
        let shown = !self.quiet && std::io::stderr().is_terminal();
        hush_client::drive::TransferOptions {
            limit_rate: self.limit_rate,
            progress: shown.then(|| std::sync::Arc::new(crate::progress::Bar::default()) as std::sync::Arc<dyn hush_client::drive::Progress>),
        }
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
pub(crate) enum ConversationCmd {
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
pub(crate) enum RecoveryCmd {
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
pub(crate) enum GuardiansCmd {
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
pub(crate) enum DeviceCmd {
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
