//! The passphrase that seals this device's state: from `HUSH_PASSPHRASE` or the terminal,
//! held in zeroized memory and never printed.

use std::io::IsTerminal as _;

/// A passphrase from `HUSH_PASSPHRASE` or the terminal; never printed.
pub(crate) struct Passphrase(pub(crate) zeroize::Zeroizing<String>);

/// Reads the passphrase; with `confirm`, a terminal asks for it twice.
pub(crate) fn read(confirm: bool) -> anyhow::Result<Passphrase> {
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
