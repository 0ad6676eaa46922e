//! Where a command points: `PATH` in the personal drive or `CONVERSATION:PATH` in a
//! conversation's space, turned into a [`Location`].

use super::{Location, split_path, usage};
use crate::{Client, ClientError};

impl Client {
    /// Parses `PATH` (the personal drive) or `CONVERSATION:PATH` (a conversation's space;
    /// a one-to-one conversation is named by the other user). With `create`, a user's
    /// one-to-one conversation is made on first use.
    pub async fn locate(&mut self, spec: &str, create: bool) -> Result<Location, ClientError> {
        if let Some((conv, path)) = spec.split_once(':')
            && !conv.is_empty()
            && !conv.contains('/')
        {
            let id = if create {
                self.resolve_or_create(conv).await?
            } else {
                match self.resolve(conv)? {
                    Some(id) => id,
                    // Files of a conversation this device left stay readable as far as
                    // its keys reach (the server decides whether it still serves them).
                    None => self
                        .state
                        .conversations
                        .values()
                        .filter(|m| !m.active && (m.name == conv || (conv.len() >= 6 && m.id.starts_with(conv))))
                        .max_by_key(|m| m.joined_at)
                        .map(|m| m.id.clone())
                        .ok_or_else(|| usage(format!("no conversation named {conv} (and no one-to-one conversation with a user of that name)")))?,
                }
            };
            return Ok(Location {
                space: format!("conv:{id}"),
                conversation: Some(id),
                path: split_path(path).join("/"),
                label: format!("{conv}:"),
            });
        }
        Ok(Location {
            space: format!("drive:{}", self.state.username),
            conversation: None,
            path: split_path(spec).join("/"),
            label: String::new(),
        })
    }
}
