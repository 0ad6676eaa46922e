//! Finding a conversation from what the user typed (`#name`, `@user`, a bare name or an id
//! prefix), and the sentences for names that find nothing.

use crate::client::Client;
use crate::error::ClientError;

impl Client {
    /// Finds a conversation: `#NAME` is always a conversation (by name or id prefix),
    /// `@NAME` always the user NAME (the most recent one-to-one conversation with them), and
    /// a bare NAME either, but never both: a bare name that is both a conversation and a
    /// user is refused with a sentence naming the two forms, so a conversation can't hide
    /// a user of the same name (or the other way round).
    pub(crate) fn resolve(&self, target: &str) -> Result<Option<String>, ClientError> {
        let (name, as_user, as_conv) = match (target.strip_prefix('@'), target.strip_prefix('#')) {
            (Some(n), _) => (n, true, false),
            (_, Some(n)) => (n, false, true),
            _ => (target, true, true),
        };
        let conv = if as_conv { self.resolve_group(name)? } else { None };
        let user = if as_user { self.resolve_direct(name) } else { None };
        if as_user && as_conv && conv.is_some() && (user.is_some() || self.state.contacts.contains_key(name)) {
            let name = hush_core::display::escape(name);
            return Err(ClientError::Usage(format!(
                "{name} is both a conversation and a user; write #{name} for the conversation or @{name} for the user"
            )));
        }
        Ok(conv.or(user))
    }

    /// An active group conversation by name or id prefix.
    pub(crate) fn resolve_group(&self, name: &str) -> Result<Option<String>, ClientError> {
        let active = || self.state.conversations.values().filter(|m| m.active);
        let by_name: Vec<_> = active().filter(|m| !m.direct && m.name == name).collect();
        if by_name.len() > 1 {
            return Err(ClientError::Usage(format!(
                "several conversations are named {}; use its id from `hush conversation list`",
                hush_core::display::escape(name)
            )));
        }
        if let Some(m) = by_name.first() {
            return Ok(Some(m.id.clone()));
        }
        if name.len() >= 6 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let by_id: Vec<_> = active().filter(|m| m.id.starts_with(&name.to_ascii_lowercase())).collect();
            if by_id.len() == 1 {
                return Ok(Some(by_id[0].id.clone()));
            }
        }
        Ok(None)
    }

    /// The most recently joined active one-to-one conversation with `user`.
    pub(crate) fn resolve_direct(&self, user: &str) -> Option<String> {
        let mut direct: Vec<_> = self
            .state
            .conversations
            .values()
            .filter(|m| m.active && m.direct)
            .filter(|m| {
                let members = self.members_of(&m.id).unwrap_or_default();
                members.iter().any(|x| x.username == user) && members.iter().all(|x| x.username == user || x.username == self.state.username)
            })
            .collect();
        direct.sort_by_key(|m| m.joined_at);
        direct.last().map(|m| m.id.clone())
    }

    /// A conversation by name or id, or a user's one-to-one conversation (made on first
    /// use).
    pub(crate) async fn resolve_or_create(&mut self, target: &str) -> Result<String, ClientError> {
        Ok(match self.resolve(target)? {
            Some(id) => id,
            None => {
                let hint = || self.did_you_mean(target).map(|s| format!(" (did you mean '{}'?)", hush_core::display::escape(&s))).unwrap_or_default();
                if let Some(name) = target.strip_prefix('#') {
                    return Err(ClientError::Usage(format!("no conversation named {}{}", hush_core::display::escape(name), hint())));
                }
                if self.state.conversations.values().any(|m| !m.active && !m.direct && m.name == target) {
                    return Err(ClientError::Usage(format!("you are no longer a member of {}", hush_core::display::escape(target))));
                }
                let user = target.strip_prefix('@').unwrap_or(target);
                if hush_core::username::validate(user).is_err() {
                    return Err(ClientError::Usage(format!("no conversation or user named {}{}", hush_core::display::escape(target), hint())));
                }
                if user == self.state.username {
                    return Err(ClientError::Usage("to talk to your other devices, create a conversation".into()));
                }
                // Never a conversation with someone new by accident (a typo of a
                // conversation's name): the person says so first (see `introduce`).
                if !self.state.contacts.contains_key(user) {
                    return Err(ClientError::Usage(self.stranger_sentence(user)));
                }
                self.new_conversation("", true, &[user.to_owned()]).await?
            }
        })
    }

    /// If sending to `target` would start a conversation with a user this device has never
    /// seen (neither a conversation nor a contact), that user: the caller asks the person
    /// (or needs an explicit flag in scripts) and then calls [`Client::introduce`].
    pub fn new_contact_needed(&self, target: &str) -> Result<Option<String>, ClientError> {
        if target.starts_with('#') || self.resolve(target)?.is_some() {
            return Ok(None);
        }
        let user = target.strip_prefix('@').unwrap_or(target);
        let left = self.state.conversations.values().any(|m| !m.active && !m.direct && m.name == target);
        if left || user == self.state.username || hush_core::username::validate(user).is_err() || self.state.contacts.contains_key(user) {
            return Ok(None);
        }
        Ok(Some(user.to_owned()))
    }

    /// The conversation or contact whose name is closest to `name` (at most two edits
    /// away), for "did you mean 'weekend'?".
    pub fn did_you_mean(&self, name: &str) -> Option<String> {
        let name = name.strip_prefix('@').or_else(|| name.strip_prefix('#')).unwrap_or(name);
        let groups = self.state.conversations.values().filter(|m| m.active && !m.direct).map(|m| m.name.as_str());
        let contacts = self.state.contacts.keys().map(String::as_str).filter(|u| *u != self.state.username);
        groups
            .chain(contacts)
            .filter(|c| *c != name)
            .map(|c| (edit_distance(name, c), c))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, c)| c.to_owned())
    }

    /// The sentence for a name that is neither a conversation nor a contact.
    pub(crate) fn stranger_sentence(&self, user: &str) -> String {
        let hint = self.did_you_mean(user).map(|s| format!(" (did you mean '{}'?)", hush_core::display::escape(&s))).unwrap_or_default();
        format!("{user} is neither a conversation nor one of your contacts{hint}; to start a conversation with the user {user}, add --new")
    }
}

/// An I/O error as a lowercase phrase without the OS error number ("no such file or
/// directory" rather than "No such file or directory (os error 2)").
/// Levenshtein distance between two names, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}
