//! What can go wrong, sorted by whose doing it is: the person's ([`ClientError::Usage`]),
//! the server's ([`ClientError::ServerMisbehaved`] with a [`Misbehaviour`] naming what it
//! did), another member's ([`ClientError::Refused`]), this machine's
//! ([`ClientError::Io`], [`ClientError::Home`]) and the network's ([`ClientError::Api`]).
//! Every variant displays as one sentence a person can act on.

use std::path::{Path, PathBuf};

use hush_core::mls::MlsError;

/// An error talking to the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The server could not be reached.
    #[error("can't reach the server at {url}: {reason}")]
    Unreachable {
        /// Server URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an error.
    #[error("the server refused: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable code.
        code: String,
        /// The server's sentence.
        message: String,
    },
    /// The server's answer was not what the API says.
    #[error("the server sent an answer hush does not understand: {0}")]
    BadAnswer(String),
    /// The server refused the request's signature, and its clock is far from this
    /// computer's: the clock, not the key, is the likely cause.
    #[error(
        "this computer's clock is {} {} the server's (requests may be at most {} minutes off); set the clock right and try again",
        display_minutes(*seconds_ahead),
        if *seconds_ahead > 0 { "ahead of" } else { "behind" },
        hush_core::auth::MAX_CLOCK_SKEW_MS / 60_000
    )]
    ClockOff {
        /// How far this computer's clock is ahead of the server's (negative: behind).
        seconds_ahead: i64,
    },
    /// The live push connection could not be opened.
    #[error("can't open the live connection to {url}: {reason}")]
    LiveConnection {
        /// The websocket URL.
        url: String,
        /// Why.
        reason: String,
    },
}

fn display_minutes(seconds: i64) -> String {
    let minutes = seconds.unsigned_abs().div_ceil(60);
    if minutes == 1 { "1 minute".to_owned() } else { format!("{minutes} minutes") }
}

impl ApiError {
    /// The error code, when the server gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Everything that can go wrong, each as one sentence a person can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No account in this home.
    #[error("no hush account in {0}; run `hush register` first")]
    NoAccount(String),
    /// Registering over an existing account.
    #[error("{0} already holds an account; use another --home")]
    AccountExists(String),
    /// The passphrase does not open the local state.
    #[error("wrong passphrase (or the local state was changed)")]
    WrongPassphrase,
    /// The home directory's state can't be used (damaged, or sealed in a way hush can't open).
    #[error("{0}")]
    Home(String),
    /// A local file or directory could not be read or written.
    #[error("{what}: {reason}")]
    Io {
        /// What was being done, naming the file ("can't create /home/a/.hush").
        what: String,
        /// The file or directory.
        path: PathBuf,
        /// Why, as the operating system said it.
        reason: String,
    },
    /// The server refused or could not be reached (the network).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A contact's identity key differs from the pinned one.
    #[error("{user}'s identity key changed since you first saw it (was {old}, now {new}); nothing is sent to {user} until you check with them and run `hush trust {user}`")]
    KeyChanged {
        /// The user.
        user: String,
        /// Old fingerprint.
        old: String,
        /// New fingerprint.
        new: String,
    },
    /// A verified contact's identity key changed.
    #[error("{user}'s identity key changed since you verified it, so nothing is sent to {user}; compare the new safety number with them (`hush verify {user}`) and, if it matches, run `hush verify {user} --confirm`")]
    VerifiedKeyChanged {
        /// The user.
        user: String,
    },
    /// A certificate or KeyPackage that does not chain to the user's identity key (what the
    /// server or the directory handed over for that user does not check out).
    #[error("refused {user}'s device: {reason}")]
    BadDevice {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// Input the user can fix: a name that finds nothing, a request that can't be done as
    /// asked.
    #[error("{0}")]
    Usage(String),
    /// Other members' changes kept winning the race (or kept changing what was being
    /// replaced); running the command again works.
    #[error("{0}")]
    Contended(String),
    /// Something another member sent breaks a rule of the conversation and was refused.
    #[error("{0}")]
    Refused(String),
    /// The server did something an honest server never does; what it did is the
    /// [`Misbehaviour`].
    #[error("{0}")]
    ServerMisbehaved(Misbehaviour),
    /// MLS refused something.
    #[error(transparent)]
    Mls(#[from] MlsError),
    /// A bug or local failure.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the server did that an honest server never does. Each displays as the sentence
/// that says so, with what this device saw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// Something signed does not verify, or does not belong to who it claims: forged or
    /// changed on the way.
    #[error("{0}")]
    Tampered(String),
    /// A blob whose bytes are not the ones its signed manifest names.
    #[error("{0}")]
    BlobMismatch(String),
    /// A history (a group, a space, the directory, a backup) that split into two versions,
    /// or differs from the version committed to.
    #[error("{0}")]
    Forked(String),
    /// A key-transparency proof that does not verify, or a directory that can't vouch.
    #[error("key transparency: {0}")]
    Transparency(String),
    /// Something old served again in place of the newest: a replay, a rollback.
    #[error("{0}")]
    RolledBack(String),
    /// Delivery that does not follow the group: changes withheld from this device (or
    /// taken by another copy of it), or a delivery for a group this device is not in.
    #[error("{0}")]
    Withheld(String),
    /// An answer or delivery that is not well-formed.
    #[error("{0}")]
    Malformed(String),
}

impl ClientError {
    /// Whether this is the server misbehaving (including a key-transparency failure and a
    /// device that does not chain to its user's identity key), rather than the person, the
    /// network or this machine.
    pub fn is_server_misbehaviour(&self) -> bool {
        matches!(self, ClientError::ServerMisbehaved(_) | ClientError::BadDevice { .. })
    }

    /// What the server did, when this is [`ClientError::ServerMisbehaved`].
    pub fn misbehaviour(&self) -> Option<&Misbehaviour> {
        match self {
            ClientError::ServerMisbehaved(m) => Some(m),
            _ => None,
        }
    }

    /// Whether the person can fix this by asking differently (a name, an option, the
    /// passphrase, the home).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ClientError::Usage(_) | ClientError::NoAccount(_) | ClientError::AccountExists(_) | ClientError::WrongPassphrase
        )
    }

    /// A local I/O failure: `what` says what was being done to `path` ("can't read
    /// /tmp/x"); the reason is the error as a lowercase phrase.
    pub fn io(what: impl Into<String>, path: &Path, e: &std::io::Error) -> ClientError {
        ClientError::Io { what: what.into(), path: path.to_owned(), reason: hush_proto::fsio::io_reason(e) }
    }
}

impl From<Misbehaviour> for ClientError {
    fn from(m: Misbehaviour) -> ClientError {
        ClientError::ServerMisbehaved(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_by_whose_doing_they_are() {
        let forged = ClientError::from(Misbehaviour::Forked("the server forked it".into()));
        assert!(forged.is_server_misbehaviour() && !forged.is_usage());
        assert_eq!(forged.misbehaviour(), Some(&Misbehaviour::Forked("the server forked it".into())));
        assert_eq!(forged.to_string(), "the server forked it");
        assert!(ClientError::from(Misbehaviour::Transparency("x".into())).is_server_misbehaviour());
        assert!(ClientError::BadDevice { user: "bob".into(), reason: "r".into() }.is_server_misbehaviour());
        let typo = ClientError::Usage("no conversation named x".into());
        assert!(typo.is_usage() && !typo.is_server_misbehaviour() && typo.misbehaviour().is_none());
        let network = ClientError::Api(ApiError::Unreachable { url: "http://x".into(), reason: "down".into() });
        assert!(!network.is_server_misbehaviour() && !network.is_usage());
        assert!(!ClientError::Refused("bob sent a guardian share for carol; ignored".into()).is_server_misbehaviour());
        assert!(!ClientError::Contended("the conversation keeps changing; try again".into()).is_usage());
    }

    #[test]
    fn sentences_stay_what_the_cli_prints() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = ClientError::io("can't read /nope", Path::new("/nope"), &io);
        assert_eq!(e.to_string(), format!("can't read /nope: {}", hush_proto::fsio::io_reason(&io)));
        assert!(matches!(&e, ClientError::Io { path, .. } if path == Path::new("/nope")));
        assert_eq!(ClientError::from(Misbehaviour::Transparency("bad proof".into())).to_string(), "key transparency: bad proof");
        assert_eq!(
            ClientError::Api(ApiError::LiveConnection { url: "ws://x".into(), reason: "refused".into() }).to_string(),
            "can't open the live connection to ws://x: refused"
        );
    }
}
