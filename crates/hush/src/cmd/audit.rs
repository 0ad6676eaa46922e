//! `hush audit`: checks, as an outside auditor, that a server's key-transparency log only ever
//! grew, remembering the last audited root between runs.

use std::path::PathBuf;

use super::{trust, Ctx};

pub(crate) async fn run(ctx: &Ctx, server: Option<String>, state: Option<PathBuf>) -> anyhow::Result<()> {
    let server = ctx.server(server)?;
    let state_path = state.unwrap_or_else(|| {
        let name: String = server.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        ctx.home.join(format!("audit-{name}.json"))
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
    hush_proto::fsio::write_atomic(&state_path, &serde_json::to_vec(&report.state)?)?;
    println!(
        "audited {server}: epochs {} to {} are append-only (root {})",
        report.from,
        report.to,
        report.state.root.hash[..8].iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    Ok(())
}
