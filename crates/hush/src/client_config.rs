//! The client's defaults: `config.toml` in the hush home (`--home`, `HUSH_HOME`, or
//! `~/.hush`), with two optional keys:
//!
//! ```toml
//! server = "https://hush.example.org"   # default for --server (register, link, recover, audit)
//! ca_cert = "/etc/hush/ca.pem"          # a private CA to trust, like --ca-cert
//! ```
//!
//! Flags and their environment variables (`--server`/`HUSH_SERVER`,
//! `--ca-cert`/`HUSH_CA_CERT`) override the file. `register`, `device link` and `recover`
//! write the server and the CA they used into the file, so later commands need neither. A
//! relative `ca_cert` is read from the hush home.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hush_client::tls::Trust;
use hush_proto::fsio::io_reason;

/// The file's name inside the hush home.
pub const FILE: &str = "config.toml";

/// What `config.toml` holds.
#[derive(Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The default server URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// A private CA certificate (PEM) to trust.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

/// Reads `home/config.toml`; a missing file is an empty configuration.
pub fn load(home: &Path) -> anyhow::Result<ClientConfig> {
    let path = home.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ClientConfig::default()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            anyhow::bail!("the client configuration {} is not UTF-8 text", path.display())
        }
        Err(e) => anyhow::bail!("can't read the client configuration {}: {}", path.display(), io_reason(&e)),
    };
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!("the client configuration {} is not valid: {}", path.display(), e.message().trim_end_matches('\n'))
    })
}

/// The authorities to trust: `--ca-cert` (or `HUSH_CA_CERT`) if given, else the file's
/// `ca_cert`, plus the system's.
pub fn trust(home: &Path, config: &ClientConfig, flag: Option<PathBuf>) -> anyhow::Result<Trust> {
    let path = match (flag, &config.ca_cert) {
        (Some(p), _) => p,
        (None, Some(p)) => home.join(p),
        (None, None) => return Ok(Trust::system()),
    };
    Ok(Trust::with_ca_file(&path)?)
}

/// The server: `--server` (or `HUSH_SERVER`) if given, else the file's.
pub fn server(home: &Path, config: &ClientConfig, flag: Option<String>) -> anyhow::Result<String> {
    match flag.or_else(|| config.server.clone()) {
        Some(s) => Ok(s),
        None => anyhow::bail!(
            "no server given: pass --server URL, set HUSH_SERVER, or put server = \"https://...\" in {}",
            home.join(FILE).display()
        ),
    }
}

/// After a new device was set up in `home`: remembers its server and the private CA it
/// trusted (as an absolute path) in `home/config.toml`.
pub fn remember(home: &Path, server: &str, trust: &Trust) -> anyhow::Result<()> {
    let mut config = load(home)?;
    let before_server = config.server.clone();
    let before_ca = config.ca_cert.clone();
    config.server = Some(server.to_owned());
    if let Some(ca) = trust.ca_file() {
        config.ca_cert = Some(std::path::absolute(ca).unwrap_or_else(|_| ca.to_path_buf()));
    }
    if config.server == before_server && config.ca_cert == before_ca {
        return Ok(());
    }
    let path = home.join(FILE);
    let text = toml::to_string(&config).context("can't write the client configuration")?;
    hush_proto::fsio::write_atomic(&path, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("can't write the client configuration {}: {}", path.display(), io_reason(&e)))
}

