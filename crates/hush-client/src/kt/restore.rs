//! Following a restore of the server from a backup: this device goes back to the root it
//! holds at the backup's epoch, forgets what the restore lost, and checks every contact
//! (and its own revocations) again.

use hush_core::kt::Root;
use hush_proto as proto;
use reqwest::Method;

use super::{RestoreFollowed, kt_err};
use crate::{Client, ClientError};

impl Client {
    /// Follows restores of the server from a backup that this device has not seen yet.
    /// The directory went back to the backup's epoch: this device goes back to the newest
    /// root it holds at or before that epoch (so the append-only proof it asks for next
    /// checks the restored directory against the roots it verified up to the backup) and
    /// forgets the roots, claims and space versions of the lost epochs. Every contact is
    /// checked again against the keys pinned for them at the next sync
    /// ([`Client::kt_recheck_after_restore`]); a change is an alert like any other.
    pub(super) fn kt_follow_restores(&mut self, restores: &[proto::KtRestore]) -> Result<(), ClientError> {
        for r in restores {
            if self.state.kt.restores_followed.contains(&r.generation) {
                continue;
            }
            let Some(latest) = self.state.kt.latest else {
                // This device never saw the directory before the restore: nothing to follow.
                self.state.kt.restores_followed.insert(r.generation);
                continue;
            };
            let taken = hush_core::display::date_utc(r.backup_taken_at);
            if latest.epoch > r.epoch {
                let Some((&epoch, &hash)) = self.state.kt.roots.range(..=r.epoch).next_back() else {
                    return Err(kt_err(format!(
                        "the server says it was restored from a backup taken {taken} (key directory epoch {}), but this device holds no directory root that old to check it against; this account may have been created after that backup (register again) or the server is lying",
                        r.epoch
                    )));
                };
                self.state.kt.roots.retain(|e, _| *e <= r.epoch);
                self.state.kt.latest = Some(Root { epoch, hash });
                self.state.kt.claims.retain(|c| c.epoch <= r.epoch);
                self.state.kt.split_reported.retain(|e| *e <= r.epoch);
                for (proven_at, _) in self.state.kt.checked.values_mut() {
                    if *proven_at > r.epoch {
                        *proven_at = 0;
                    }
                }
                self.warn("", format!(
                    "the server was restored from a backup taken {taken}: its key directory went back from epoch {} (the newest this device saw) to epoch {}. What reached the server after the backup is gone from it (messages not yet delivered, files, new accounts and devices, revocations). hush checks the restored directory against what this device saw up to epoch {} and checks every contact again against the keys you pinned",
                    latest.epoch, r.epoch, r.epoch
                ));
            } else {
                self.warn("", format!(
                    "the server was restored from a backup taken {taken} (key directory epoch {}); messages and files that reached the server after the backup are gone from it. hush checks every contact again against the keys you pinned",
                    r.epoch
                ));
            }
            // Space versions seen after the backup are gone too: the next listing starts
            // again from what the server holds (still signed and checked).
            self.state.spaces_seen.clear();
            self.state.kt.own_checked_epoch = 0;
            self.state.kt.recheck = Some(RestoreFollowed { epoch: r.epoch, backup_taken_at: r.backup_taken_at });
            self.state.kt.restores_followed.insert(r.generation);
        }
        Ok(())
    }

    /// Once this device followed a restore of the server that happened while it existed:
    /// the words to add where a conversation lost a change, naming the way back.
    pub(crate) fn restore_hint(&self, conversation: &str) -> String {
        if self.state.kt.restores_followed.is_empty() {
            return String::new();
        }
        format!(
            "; or the server's restore from a backup lost that change: run `hush conversation heal {conversation}` to bring everyone back into one conversation"
        )
    }

    /// After following a restore: every contact's identity key and devices are looked up
    /// again; a key that is not the pinned one is refused and reported as usual, devices
    /// that differ from the ones proven before are listed, and a contact the restored
    /// server does not know is named. Conversations are then brought in line with the
    /// directory (devices gone since the backup leave them).
    pub(crate) async fn kt_recheck_after_restore(&mut self) -> Result<(), ClientError> {
        let Some(note) = self.state.kt.recheck.clone() else { return Ok(()) };
        // Our own revocations made after the backup are undone on the server: make them again.
        let listed = self.kt_get::<proto::OwnDevices>("/v1/devices").await.map(|d| d.devices).unwrap_or_default();
        let again: Vec<String> = listed
            .into_iter()
            .filter(|d| !d.revoked && self.state.kt.revoked_here.contains(&d.device_id))
            .map(|d| d.device_id)
            .collect();
        for id in again {
            let short = crate::short_device(&id).to_owned();
            match Box::pin(self.revoke_device(&id)).await {
                Ok(()) => self.warn("", format!(
                    "ALERT: your device {short}, which you revoked, was active again on the restored server (the revocation came after the backup); it is revoked again"
                )),
                Err(e) => self.warn("", format!(
                    "ALERT: your device {short}, which you revoked, is active again on the restored server and could not be revoked again ({e}); revoke it with `hush device revoke {id}`"
                )),
            }
        }
        let contacts: Vec<String> = self.state.contacts.keys().cloned().collect();
        let (mut same, mut changed, mut gone, mut failed) = (0usize, Vec::new(), Vec::new(), Vec::new());
        for user in &contacts {
            let before = self.state.kt.checked.remove(user).map(|(_, d)| d);
            let exists = self
                .api
                .call::<(), proto::UserRecord>(Some(&self.signer()), Method::GET, &format!("/v1/users/{user}"), None)
                .await;
            match exists {
                Err(e) if e.code() == Some(proto::codes::NOT_FOUND) => {
                    gone.push(user.clone());
                    continue;
                }
                Err(e) => {
                    failed.push(format!("{user} ({e})"));
                    continue;
                }
                Ok(_) => {}
            }
            match self.proven_devices(user).await {
                Ok(now) => match before {
                    Some(before) if before != now => {
                        let added: Vec<&str> = now.difference(&before).map(|d| crate::short_device(d)).collect();
                        let removed: Vec<&str> = before.difference(&now).map(|d| crate::short_device(d)).collect();
                        let mut parts = Vec::new();
                        if !added.is_empty() {
                            parts.push(format!("listed again or new: {}", added.join(", ")));
                        }
                        if !removed.is_empty() {
                            parts.push(format!("no longer listed: {}", removed.join(", ")));
                        }
                        changed.push(format!("{user}'s devices ({})", parts.join("; ")));
                    }
                    _ => same += 1,
                },
                Err(ClientError::KeyChanged { .. } | ClientError::VerifiedKeyChanged { .. }) => {
                    changed.push(format!("{user}'s identity key (nothing is sent to them until you check it: `hush trust {user}`)"));
                }
                Err(e) => failed.push(format!("{user} ({e})")),
            }
            self.state.pending_device_checks.insert(user.clone());
        }
        let mut text = format!(
            "after the server's restore (backup taken {}, key directory epoch {}) every contact was checked again: {same} unchanged",
            hush_core::display::date_utc(note.backup_taken_at),
            note.epoch
        );
        if !changed.is_empty() {
            text = format!("ALERT: {text}; changed since you last checked: {}", changed.join(", "));
        }
        if !gone.is_empty() {
            text.push_str(&format!("; not on the restored server (their accounts were made after the backup or deleted): {}", gone.join(", ")));
        }
        if !failed.is_empty() {
            text.push_str(&format!("; could not be checked: {}", failed.join(", ")));
        }
        self.warn("", text);
        self.state.kt.recheck = None;
        self.save()
    }
}
