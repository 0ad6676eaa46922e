//! `hush server`: run the server (`hush server [flags]`), or one of the operator's
//! commands (`hush server invite|users|disable|enable|delete-user|stats`), which talk to the
//! running server over its admin socket in the data directory.
//!
//! Settings come from, strongest first: flags, environment variables, the config file
//! (`--config FILE` or `HUSH_CONFIG`, TOML), and the defaults.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use hush_proto::fsio::io_reason;
use hush_server::Registration;
use serde::{Deserialize, Serialize};

/// `hush server`: runs the server unless a subcommand is given.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServerCli {
    #[command(subcommand)]
    command: Option<ServerCmd>,
    #[command(flatten)]
    run: ServerArgs,
}

/// The operator's commands. Each talks to the server running on the data directory.
#[derive(Subcommand)]
enum ServerCmd {
    /// Make single-use invitation tokens (for `hush register --invite TOKEN`).
    Invite {
        /// How many.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// How long they stay valid: a number and a unit, s, m, h, d or w (e.g. 7d).
        #[arg(long, default_value = "7d", value_parser = parse_duration)]
        expires: u64,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List accounts: devices, last activity, storage, whether disabled.
    Users {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Disable an account: its devices are refused (403) and their live connections close.
    Disable {
        /// The username.
        username: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Enable an account again.
    Enable {
        /// The username.
        username: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Delete an account and everything kept for it; the key directory publishes the
    /// deletion.
    DeleteUser {
        /// The username.
        username: String,
        /// Don't ask (needed when there is no terminal to ask on).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Copy the data directory to DEST consistently while the server runs: the database,
    /// the key directory's VRF key and every stored file.
    Backup {
        /// A new directory for the backup.
        dest: PathBuf,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Restore a backup into an empty data directory (the server stopped). Clients that saw
    /// later key-directory epochs are told, check the restored directory against what they
    /// saw, and go on.
    Restore {
        /// The backup directory (made by `hush server backup`).
        backup: PathBuf,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Show accounts, devices, queued messages, storage and the key directory's epoch.
    Stats {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// Where the operator's commands find the running server.
#[derive(Args)]
struct AdminArgs {
    /// The server's data directory (its admin socket is DATA/admin.sock).
    #[arg(long, env = "HUSH_DATA")]
    data: Option<PathBuf>,
    /// The server's config file (for its data directory).
    #[arg(long, env = "HUSH_CONFIG")]
    config: Option<PathBuf>,
}

/// How the server runs. Unset flags fall back to the environment, then the config file,
/// then the defaults.
#[derive(Args)]
struct ServerArgs {
    /// A TOML config file with any of the settings below (flags and environment win).
    #[arg(long, env = "HUSH_CONFIG")]
    config: Option<PathBuf>,
    /// Print the effective settings as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// Address to listen on [default: 127.0.0.1:7777]. The server speaks plain HTTP: it
    /// listens on loopback unless --behind-tls-proxy says a TLS-terminating proxy is in
    /// front of it.
    #[arg(long, env = "HUSH_LISTEN")]
    listen: Option<SocketAddr>,
    /// Terminate TLS with this certificate chain (PEM, leaf first); needs --tls-key. Both
    /// files are read again when they change, or on SIGHUP.
    #[arg(long, env = "HUSH_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "HUSH_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Allow a non-loopback address because a TLS proxy (nginx, Caddy...) terminates TLS.
    #[arg(long, env = "HUSH_BEHIND_TLS_PROXY")]
    behind_tls_proxy: bool,
    /// Data directory (SQLite database and blobs) [default: ./hush-data].
    #[arg(long, env = "HUSH_DATA")]
    data: Option<PathBuf>,
    /// Largest request body accepted, in bytes [default: 1048576].
    #[arg(long, env = "HUSH_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Per-request timeout in seconds [default: 30].
    #[arg(long, env = "HUSH_REQUEST_TIMEOUT_SECS")]
    request_timeout_secs: Option<u64>,
    /// Seconds a client may take to send a request's header, from the connection's start or
    /// the header's first byte [default: 10].
    #[arg(long, env = "HUSH_HEADER_READ_TIMEOUT_SECS")]
    header_read_timeout_secs: Option<u64>,
    /// Seconds a kept-alive connection may stay silent between requests [default: 120].
    #[arg(long, env = "HUSH_IDLE_TIMEOUT_SECS")]
    idle_timeout_secs: Option<u64>,
    /// Most connections open at once, WebSockets included [default: 10000].
    #[arg(long, env = "HUSH_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Most connections open at once from one IP address (IPv6: one /64) [default: 256, or
    /// max-connections with --behind-tls-proxy, where every connection comes from the proxy].
    #[arg(long, env = "HUSH_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<usize>,
    /// How often the key directory publishes pending changes, in seconds (registrations
    /// and new devices are also published at once) [default: 60].
    #[arg(long, env = "HUSH_KT_PUBLISH_INTERVAL_SECS")]
    kt_publish_interval_secs: Option<u64>,
    /// Largest file (blob) accepted, in bytes [default: 16 GiB].
    #[arg(long, env = "HUSH_MAX_UPLOAD_BYTES")]
    max_upload_bytes: Option<u64>,
    /// Storage per user (files stored plus uploads in progress), in bytes [default: 64 GiB].
    #[arg(long, env = "HUSH_QUOTA_BYTES")]
    quota_bytes: Option<u64>,
    /// Who may create an account: open, invite (with a token from `hush server invite`) or
    /// closed [default: open].
    #[arg(long, env = "HUSH_REGISTRATION")]
    registration: Option<Registration>,
    /// Most messages waiting in one device's inbox; a message to a full one is refused with
    /// 429 queue_full [default: 10000].
    #[arg(long, env = "HUSH_INBOX_MAX_ITEMS")]
    inbox_max_items: Option<u64>,
    /// Most payload bytes waiting in one device's inbox [default: 256 MiB].
    #[arg(long, env = "HUSH_INBOX_MAX_BYTES")]
    inbox_max_bytes: Option<u64>,
    /// Most payload bytes one user's sent messages may take while they wait for delivery
    /// (a message to many devices counts once) [default: 1 GiB].
    #[arg(long, env = "HUSH_QUEUE_QUOTA_BYTES")]
    queue_quota_bytes: Option<u64>,
    /// How long a message waits for its recipients before it is deleted, in seconds
    /// [default: 2592000, 30 days].
    #[arg(long, env = "HUSH_MESSAGE_TTL_SECS")]
    message_ttl_secs: Option<u64>,
    /// Serve Prometheus metrics (GET /metrics) on this address [default: off].
    #[arg(long, env = "HUSH_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Log format on standard error: plain or json [default: plain].
    #[arg(long, env = "HUSH_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Most push WebSockets one device may hold open [default: 4] (hidden: for tests).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    max_websockets_per_device: Option<u32>,
    /// Seconds between the pings of each push WebSocket [default: 30] (hidden: for tests).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    websocket_ping_secs: Option<u64>,
    /// Seconds a push WebSocket may stay silent after a ping before it is closed
    /// [default: 15] (hidden: for tests).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    websocket_pong_deadline_secs: Option<u64>,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
enum LogFormat {
    /// Text, colourless unless standard error is a terminal.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// The config file. Every key is optional; an unknown key is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    behind_tls_proxy: Option<bool>,
    data_dir: Option<PathBuf>,
    max_body_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    header_read_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    kt_publish_interval_secs: Option<u64>,
    max_upload_bytes: Option<u64>,
    quota_bytes: Option<u64>,
    registration: Option<Registration>,
    metrics_listen: Option<SocketAddr>,
    log_format: Option<LogFormat>,
    inbox_max_items: Option<u64>,
    inbox_max_bytes: Option<u64>,
    queue_quota_bytes: Option<u64>,
    message_ttl_secs: Option<u64>,
    // Reserved for serving TLS directly (the `--tls-cert`/`--tls-key` flags): the
    // certificate chain and private key files, PEM.
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

/// The keys a config file may have, in the order `--print-config` shows them.
const KEYS: &[&str] = &[
    "listen",
    "behind_tls_proxy",
    "data_dir",
    "max_body_bytes",
    "request_timeout_secs",
    "header_read_timeout_secs",
    "idle_timeout_secs",
    "max_connections",
    "max_connections_per_ip",
    "kt_publish_interval_secs",
    "max_upload_bytes",
    "quota_bytes",
    "registration",
    "metrics_listen",
    "log_format",
    "tls_cert",
    "tls_key",
    "inbox_max_items",
    "inbox_max_bytes",
    "queue_quota_bytes",
    "message_ttl_secs",
];

/// The settings in force, after flags, environment, file and defaults.
#[derive(Debug, Serialize)]
struct Effective {
    listen: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_key: Option<PathBuf>,
    behind_tls_proxy: bool,
    data_dir: PathBuf,
    max_body_bytes: usize,
    request_timeout_secs: u64,
    header_read_timeout_secs: u64,
    idle_timeout_secs: u64,
    max_connections: usize,
    max_connections_per_ip: usize,
    kt_publish_interval_secs: u64,
    max_upload_bytes: u64,
    quota_bytes: u64,
    registration: Registration,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_listen: Option<SocketAddr>,
    log_format: LogFormat,
    inbox_max_items: u64,
    inbox_max_bytes: u64,
    queue_quota_bytes: u64,
    message_ttl_secs: u64,
}

/// Library targets kept at `warn` unless `HUSH_LOG`/`RUST_LOG` say otherwise.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,hyper=warn,hyper_util=warn,h2=warn,tower=warn,tower_http=warn,axum=warn,\
akd=warn,akd_core=warn,openmls=warn,object_store=warn,reqwest=warn,tungstenite=warn,tokio_tungstenite=warn";

/// Reads the config file, refusing unknown keys with one sentence.
fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("can't read the config file {}: {}", path.display(), io_reason(&e)))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("the config file {} is not valid TOML{}: {}", path.display(), at_line(&text, &e), e.message().trim()))?;
    if let Some(unknown) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
        anyhow::bail!(
            "the config file {} has an unknown setting \"{unknown}\"; the settings are {}",
            path.display(),
            KEYS.join(", ")
        );
    }
    let config: FileConfig = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("the config file {} has a bad value{}: {}", path.display(), at_line(&text, &e), e.message().trim()))?;
    Ok(config)
}

/// " at line N" for a TOML error with a position.
fn at_line(text: &str, e: &toml::de::Error) -> String {
    e.span()
        .map(|s| format!(" at line {}", text[..s.start.min(text.len())].matches('\n').count() + 1))
        .unwrap_or_default()
}

impl ServerArgs {
    fn effective(&self) -> anyhow::Result<Effective> {
        let file = match &self.config {
            Some(p) => read_config(p)?,
            None => FileConfig::default(),
        };
        let d = hush_server::ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 7777)), PathBuf::from("./hush-data"));
        let behind_tls_proxy = self.behind_tls_proxy || file.behind_tls_proxy.unwrap_or(false);
        let max_connections = self.max_connections.or(file.max_connections).unwrap_or(d.max_connections);
        // Behind a proxy every connection comes from the proxy's address.
        let per_ip_default = if behind_tls_proxy { max_connections } else { d.max_connections_per_ip.min(max_connections) };
        Ok(Effective {
            listen: self.listen.or(file.listen).unwrap_or(d.listen),
            tls_cert: self.tls_cert.clone().or(file.tls_cert),
            tls_key: self.tls_key.clone().or(file.tls_key),
            behind_tls_proxy,
            data_dir: self.data.clone().or(file.data_dir).unwrap_or(d.data_dir),
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes).unwrap_or(d.max_body_bytes),
            request_timeout_secs: self.request_timeout_secs.or(file.request_timeout_secs).unwrap_or(d.request_timeout.as_secs()),
            header_read_timeout_secs: self
                .header_read_timeout_secs
                .or(file.header_read_timeout_secs)
                .unwrap_or(d.header_read_timeout.as_secs()),
            idle_timeout_secs: self.idle_timeout_secs.or(file.idle_timeout_secs).unwrap_or(d.idle_timeout.as_secs()),
            max_connections,
            max_connections_per_ip: self.max_connections_per_ip.or(file.max_connections_per_ip).unwrap_or(per_ip_default),
            kt_publish_interval_secs: self
                .kt_publish_interval_secs
                .or(file.kt_publish_interval_secs)
                .unwrap_or(d.kt_publish_interval.as_secs()),
            max_upload_bytes: self.max_upload_bytes.or(file.max_upload_bytes).unwrap_or(d.max_upload_bytes),
            quota_bytes: self.quota_bytes.or(file.quota_bytes).unwrap_or(d.quota_bytes),
            registration: self.registration.or(file.registration).unwrap_or(d.registration),
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            log_format: self.log_format.or(file.log_format).unwrap_or_default(),
            inbox_max_items: self.inbox_max_items.or(file.inbox_max_items).unwrap_or(d.queues.max_items),
            inbox_max_bytes: self.inbox_max_bytes.or(file.inbox_max_bytes).unwrap_or(d.queues.max_bytes),
            queue_quota_bytes: self.queue_quota_bytes.or(file.queue_quota_bytes).unwrap_or(d.queues.sender_quota_bytes),
            message_ttl_secs: self
                .message_ttl_secs
                .or(file.message_ttl_secs)
                .unwrap_or(u64::try_from(d.queues.ttl_ms / 1000).unwrap_or(u64::MAX)),
        })
    }
}

/// Whether a setting's name says it holds a secret (a key, a token, a password).
fn is_secret(name: &str) -> bool {
    ["key", "token", "secret", "password"].iter().any(|w| name.split('_').any(|part| part == *w))
}

/// The effective settings as TOML, secrets shown as "(hidden)".
fn print_config(e: &Effective) -> anyhow::Result<String> {
    let mut table = toml::Table::try_from(e)?;
    for (name, value) in table.iter_mut() {
        if is_secret(name) {
            *value = toml::Value::String("(hidden)".into());
        }
    }
    let mut out = String::from("# hush server: effective settings (flags > environment > config file > defaults)\n");
    out.push_str(&toml::to_string(&table)?);
    if e.metrics_listen.is_none() {
        out.push_str("# metrics_listen: off\n");
    }
    Ok(out)
}

/// `hush server ...`.
pub async fn run(cli: ServerCli) -> anyhow::Result<()> {
    match cli.command {
        None => run_server(cli.run).await,
        Some(cmd) => admin(cmd).await,
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUSH_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Plain => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).with_current_span(false).init(),
    }
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let e = args.effective()?;
    if args.print_config {
        print!("{}", print_config(&e)?);
        return Ok(());
    }
    let tls = match (e.tls_cert.clone(), e.tls_key.clone()) {
        (Some(cert), Some(key)) => Some(hush_server::tls::TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => anyhow::bail!("--tls-cert needs --tls-key (the certificate's private key)"),
        (None, Some(_)) => anyhow::bail!("--tls-key needs --tls-cert (the certificate it belongs to)"),
    };
    if tls.is_none() && !e.listen.ip().is_loopback() && !e.behind_tls_proxy {
        anyhow::bail!(
            "without --tls-cert and --tls-key hush server speaks plain HTTP, so it listens only on loopback; pass them, or put a TLS proxy in front and pass --behind-tls-proxy, to listen on {}",
            e.listen
        );
    }
    init_logs(e.log_format);
    let mut config = hush_server::ServerConfig::new(e.listen, e.data_dir.clone());
    config.max_body_bytes = e.max_body_bytes;
    config.max_upload_bytes = e.max_upload_bytes;
    config.quota_bytes = e.quota_bytes;
    config.request_timeout = std::time::Duration::from_secs(e.request_timeout_secs);
    config.header_read_timeout = std::time::Duration::from_secs(e.header_read_timeout_secs);
    config.idle_timeout = std::time::Duration::from_secs(e.idle_timeout_secs);
    config.max_connections = e.max_connections;
    config.max_connections_per_ip = e.max_connections_per_ip;
    config.kt_publish_interval = std::time::Duration::from_secs(e.kt_publish_interval_secs.max(1));
    config.registration = e.registration;
    config.metrics_listen = e.metrics_listen;
    config.tls = tls;
    if let Some(n) = args.max_websockets_per_device {
        config.max_websockets_per_device = usize::try_from(n)?;
    }
    if let Some(s) = args.websocket_ping_secs {
        config.websocket_ping_every = std::time::Duration::from_secs(s);
    }
    if let Some(s) = args.websocket_pong_deadline_secs {
        config.websocket_pong_deadline = std::time::Duration::from_secs(s);
    }
    config.queues = hush_server::QueueLimits {
        max_items: e.inbox_max_items,
        max_bytes: e.inbox_max_bytes,
        sender_quota_bytes: e.queue_quota_bytes,
        ttl_ms: i64::try_from(e.message_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
    };
    config.forwarded_for = e.behind_tls_proxy;
    config.validate()?;
    let server = hush_server::Server::bind(config).await?;
    tracing::info!(registration = %e.registration, "registration policy");
    // Scripts and tests wait for these lines; in JSON mode the log lines above say it.
    if e.log_format == LogFormat::Plain {
        if let Some(m) = server.metrics_addr() {
            eprintln!("hush server metrics on http://{m}/metrics");
        }
        let scheme = if server.is_tls() { "https" } else { "http" };
        eprintln!("hush server listening on {scheme}://{}", server.local_addr());
    }
    server.run(crate::signal::shutdown_signal()).await?;
    Ok(())
}

/// The data directory the operator's commands use: `--data`/`HUSH_DATA`, else the config
/// file's `data_dir`, else `./hush-data`.
fn admin_data_dir(a: &AdminArgs) -> anyhow::Result<PathBuf> {
    if let Some(d) = &a.data {
        return Ok(d.clone());
    }
    let file = match &a.config {
        Some(p) => read_config(p)?,
        None => FileConfig::default(),
    };
    Ok(file.data_dir.unwrap_or_else(|| PathBuf::from("./hush-data")))
}

async fn call(a: &AdminArgs, method: &str, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<serde_json::Value> {
    let dir = admin_data_dir(a)?;
    Ok(hush_server::admin::call(&dir, method, path, body.as_ref()).await?)
}

async fn admin(cmd: ServerCmd) -> anyhow::Result<()> {
    match cmd {
        ServerCmd::Backup { dest, admin } => crate::backup_cmd::backup(&admin_data_dir(&admin)?, &dest).await?,
        ServerCmd::Restore { backup, admin } => crate::backup_cmd::restore(&backup, &admin_data_dir(&admin)?).await?,
        ServerCmd::Invite { count, expires, json, admin } => {
            let body = serde_json::json!({ "count": count, "expires_in_secs": expires });
            let v = call(&admin, "POST", "/invites", Some(body)).await?;
            let answer: hush_server::admin::Invites = serde_json::from_value(v)?;
            if json {
                println!("{}", serde_json::json!({ "tokens": answer.tokens, "expires_at_ms": answer.expires_at_ms }));
            } else {
                let until = hush_core::display::date_utc(answer.expires_at_ms);
                for t in &answer.tokens {
                    println!("{t}  (single use, expires {until})");
                }
                eprintln!("give each new user one token: hush register NAME --server URL --invite TOKEN");
            }
        }
        ServerCmd::Users { json, admin } => {
            let v = call(&admin, "GET", "/users", None).await?;
            let users: Vec<hush_server::admin::UserOverview> = serde_json::from_value(v)?;
            if json {
                println!("{}", serde_json::to_string(&users)?);
            } else if users.is_empty() {
                println!("no accounts yet");
            } else {
                let width = users.iter().map(|u| u.username.len()).max().unwrap_or(4).max(4);
                println!("{:width$}  {:>7}  {:<20}  {:>10}  status", "user", "devices", "last active", "storage");
                for u in &users {
                    println!(
                        "{:width$}  {:>7}  {:<20}  {:>10}  {}",
                        u.username,
                        u.devices,
                        hush_core::display::date_utc(u.last_active_ms),
                        hush_core::display::human_bytes(u.storage_bytes),
                        if u.disabled { "disabled" } else { "active" }
                    );
                }
            }
        }
        ServerCmd::Disable { username, admin } => {
            let v = call(&admin, "POST", &format!("/users/{username}/disable"), None).await?;
            let devices = v["devices"].as_u64().unwrap_or(0);
            println!(
                "disabled {username}: its {devices} device(s) are refused and their live connections closed; `hush server enable {username}` undoes it"
            );
        }
        ServerCmd::Enable { username, admin } => {
            call(&admin, "POST", &format!("/users/{username}/enable"), None).await?;
            println!("enabled {username}: its devices work again");
        }
        ServerCmd::DeleteUser { username, yes, admin } => {
            if !yes {
                if !std::io::stdin().is_terminal() {
                    anyhow::bail!("deleting an account can't be undone: pass --yes to delete {username}");
                }
                eprint!("delete {username} and everything the server keeps for it? type the username to confirm: ");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                if line.trim() != username {
                    anyhow::bail!("not confirmed; {username} was not deleted");
                }
            }
            let v = call(&admin, "POST", &format!("/users/{username}/delete"), None).await?;
            println!(
                "deleted {username}: {} device(s) and {} file(s); the key directory now shows the account as deleted",
                v["devices"].as_u64().unwrap_or(0),
                v["files"].as_u64().unwrap_or(0)
            );
        }
        ServerCmd::Stats { json, admin } => {
            let v = call(&admin, "GET", "/stats", None).await?;
            if json {
                println!("{v}");
            } else {
                let s: hush_server::admin::Stats = serde_json::from_value(v)?;
                println!("users            {} ({} disabled)", s.stats.users, s.stats.disabled_users);
                println!("devices          {}", s.stats.devices);
                println!("messages queued  {}", s.stats.messages_queued);
                println!("storage          {} ({} bytes)", hush_core::display::human_bytes(s.stats.storage_bytes), s.stats.storage_bytes);
                println!("directory epoch  {}", s.directory_epoch);
            }
        }
    }
    Ok(())
}

/// A duration such as `7d`, `12h`, `30m`, `90s` or `2w`, in seconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("\"{s}\" is not a duration; use a number and a unit such as 90s, 30m, 12h, 7d or 2w");
    let unit = t.chars().last().ok_or_else(bad)?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = t[..t.len() - 1].trim().parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    n.checked_mul(mult).ok_or_else(|| "that duration is too long".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn durations_and_secret_names() {
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("0d").is_err());
        assert!(is_secret("tls_key") && is_secret("admin_token"));
        assert!(!is_secret("listen") && !is_secret("keyring_dir") && !is_secret("kt_publish_interval_secs"));
    }
}
