//! Alerts: what the person must see and acknowledge (the server misbehaved, a key changed,
//! a message is missing). Every warning the library raises becomes one; an app shows them
//! in a banner and in the conversation until acknowledged, and holds sending to that
//! conversation meanwhile. They are part of the sealed state, so a restart forgets none.

use crate::client::Client;
use crate::error::ClientError;
use crate::state::Alert;

/// How many alerts are kept; the oldest acknowledged ones go first.
const ALERTS_KEPT: usize = 200;

impl Client {
    /// The alerts not yet acknowledged, oldest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.state.alerts.iter().filter(|a| !a.acknowledged).cloned().collect()
    }

    /// Records an alert about `subject` (a conversation id, or `@user`); the caller saves.
    /// The same sentence about the same subject is recorded once while unacknowledged.
    pub(crate) fn raise_alert(&mut self, subject: &str, about: &str, text: &str, blocking: bool) {
        if self.state.alerts.iter().any(|a| !a.acknowledged && a.subject == subject && a.text == text) {
            return;
        }
        let id = self.state.alerts.iter().map(|a| a.id).max().unwrap_or(0) + 1;
        self.state.alerts.push(Alert {
            id,
            subject: subject.to_owned(),
            about: about.to_owned(),
            text: text.to_owned(),
            at: hush_core::now_ms(),
            blocking,
            acknowledged: false,
        });
        while self.state.alerts.len() > ALERTS_KEPT {
            let oldest = self.state.alerts.iter().position(|a| a.acknowledged).unwrap_or(0);
            self.state.alerts.remove(oldest);
        }
    }

    /// Records an alert raised outside a sync (an operation the server answered in a way
    /// an honest server never does), and saves.
    pub fn alert(&mut self, subject: &str, text: &str) -> Result<(), ClientError> {
        let about = match self.state.conversations.get(subject) {
            Some(meta) => self.display_name(meta),
            None => subject.trim_start_matches('@').to_owned(),
        };
        self.raise_alert(subject, &about, text, true);
        self.save()
    }

    /// Marks an alert acknowledged; false if there is none with that id.
    pub fn acknowledge_alert(&mut self, id: u64) -> Result<bool, ClientError> {
        let Some(a) = self.state.alerts.iter_mut().find(|a| a.id == id && !a.acknowledged) else {
            return Ok(false);
        };
        a.acknowledged = true;
        self.save()?;
        Ok(true)
    }

    /// The first unacknowledged blocking alert about any of `subjects`.
    pub fn blocking_alert(&self, subjects: &[&str]) -> Option<Alert> {
        self.state.alerts.iter().find(|a| a.blocking && !a.acknowledged && subjects.contains(&a.subject.as_str())).cloned()
    }
}
