//! What the authenticated transcript keeps (persisted): this device's own sequence per
//! conversation, what it saw of every other device's, and the epoch authenticators it
//! held. The rules that read it (a gap, a late arrival, a second copy of a device) are
//! here with it; `crate::transcript` turns them into what the reader is told.

use std::collections::{BTreeMap, BTreeSet};

use hush_core::message::{Envelope, Payload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How many epoch authenticators a device keeps per conversation.
const EPOCHS_KEPT: usize = 32;
/// How many payload hashes are kept per conversation and sending device.
const HASHES_KEPT: usize = 2048;
/// Most missing numbers tracked per sender (a jump beyond is counted, not listed).
const MISSING_KEPT: u64 = 10_000;
/// The highest sequence number taken into a sender's sequence.
const MAX_SEQ: u64 = 1 << 48;

/// This device's own sequence in one conversation.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Sent {
    /// The last number used.
    pub seq: u64,
    /// Hash (hex) of the last envelope sent.
    pub prev: String,
}

/// What this device saw of one other device's sequence in one conversation.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct PeerLog {
    /// The sender's username.
    pub username: String,
    /// Lowest and highest number received (0: none yet).
    pub lowest: u64,
    /// Highest number received.
    pub highest: u64,
    /// The highest number as of the end of the last sync (later arrivals below it are late).
    pub shown: u64,
    /// Hash and previous-hash of each payload received, by number (bounded).
    pub hashes: BTreeMap<u64, (String, String)>,
    /// Numbers not received though a later one was.
    pub missing: BTreeSet<u64>,
    /// Missing numbers already reported.
    pub reported: BTreeSet<u64>,
    /// Whether a second copy of this device was already reported.
    pub clone_reported: bool,
}

/// One text received in the current sync, for ordering by number at its end.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    pub(crate) index: usize,
    pub(crate) conversation: String,
    pub(crate) device: String,
    pub(crate) seq: u64,
}

/// What the transcript keeps, inside the sealed state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TranscriptState {
    /// Our own sequence per conversation.
    #[serde(default)]
    pub sent: BTreeMap<String, Sent>,
    /// Others' sequences per conversation, then sending device.
    #[serde(default)]
    pub peers: BTreeMap<String, BTreeMap<String, PeerLog>>,
    /// The epoch authenticators (hex) this device held, per conversation and epoch.
    #[serde(default)]
    pub epochs: BTreeMap<String, BTreeMap<u64, String>>,
    /// Conversations whose split was already reported.
    #[serde(default)]
    pub forks_reported: BTreeSet<String>,
    /// Conversations re-created to heal a split: old id → new id.
    #[serde(default)]
    pub replaced: BTreeMap<String, String>,
    /// Texts received in the sync under way.
    #[serde(skip)]
    pub(crate) placed: Vec<Placed>,
}

/// What a received payload is, in its sender's sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// New; `late` if a later one of the same sender was shown in an earlier sync.
    Fresh {
        /// Arrived after a later message was already shown.
        late: bool,
    },
    /// The same payload again.
    Duplicate,
    /// Another payload under a number already used, or after another previous one: a
    /// second copy of the sending device.
    Clone,
}

pub(crate) fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl TranscriptState {
    /// Wraps payloads for sending in one conversation; advances our sequence.
    pub fn seal(&mut self, conversation: &str, payloads: &[Payload]) -> Vec<Vec<u8>> {
        let sent = self.sent.entry(conversation.to_owned()).or_default();
        payloads
            .iter()
            .map(|p| {
                sent.seq += 1;
                let bytes = Envelope { seq: sent.seq, prev: std::mem::take(&mut sent.prev), payload: p.clone() }.encode();
                sent.prev = hash_hex(&bytes);
                bytes
            })
            .collect()
    }

    /// Records a received payload's place in its sender's sequence.
    pub fn receive(&mut self, conversation: &str, device: &str, username: &str, env: &Envelope, plaintext: &[u8]) -> Verdict {
        if env.seq == 0 {
            return Verdict::Fresh { late: false };
        }
        // No honest device sends 2^48 messages in one conversation; a number beyond that
        // only serves to make the gap bookkeeping below huge, so it joins no sequence.
        if env.seq > MAX_SEQ {
            return Verdict::Fresh { late: false };
        }
        let hash = hash_hex(plaintext);
        let log = self
            .peers
            .entry(conversation.to_owned())
            .or_default()
            .entry(device.to_owned())
            .or_default();
        log.username = username.to_owned();
        let seq = env.seq;
        if let Some((h, _)) = log.hashes.get(&seq) {
            return if *h == hash { Verdict::Duplicate } else { Verdict::Clone };
        }
        // The chain: this one's previous must be the one we hold, and the next one's
        // previous must be this one.
        if let Some((h, _)) = seq.checked_sub(1).and_then(|p| log.hashes.get(&p))
            && *h != env.prev
        {
            return Verdict::Clone;
        }
        if let Some((_, next_prev)) = seq.checked_add(1).and_then(|n| log.hashes.get(&n))
            && *next_prev != hash
        {
            return Verdict::Clone;
        }
        let late = seq < log.shown;
        if log.highest == 0 {
            log.lowest = seq;
            log.highest = seq;
        } else if seq > log.highest {
            let from = (log.highest + 1).max(seq.saturating_sub(MISSING_KEPT));
            log.missing.extend(from..seq);
            log.highest = seq;
        } else if seq < log.lowest {
            let to = log.lowest.min(seq.saturating_add(1).saturating_add(MISSING_KEPT));
            log.missing.extend(seq.saturating_add(1)..to);
            log.lowest = seq;
        } else {
            log.missing.remove(&seq);
            log.reported.remove(&seq);
        }
        // Bounded whatever a sender's numbers do: the oldest gaps are forgotten first.
        while log.missing.len() as u64 > MISSING_KEPT {
            log.missing.pop_first();
        }
        log.reported.retain(|s| log.missing.contains(s));
        log.hashes.insert(seq, (hash, env.prev.clone()));
        while log.hashes.len() > HASHES_KEPT {
            log.hashes.pop_first();
        }
        Verdict::Fresh { late }
    }

    /// Marks that a second copy of this device was reported; true the first time.
    pub(crate) fn first_clone_report(&mut self, conversation: &str, device: &str) -> bool {
        match self.peers.get_mut(conversation).and_then(|m| m.get_mut(device)) {
            Some(log) if !log.clone_reported => {
                log.clone_reported = true;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// Remembers the authenticator of an epoch this device is in.
    pub fn note_epoch(&mut self, conversation: &str, epoch: u64, authenticator: &[u8]) {
        let held = self.epochs.entry(conversation.to_owned()).or_default();
        // Epochs skipped: this device was out of the conversation (removed and added again)
        // and missed what was sent meanwhile on purpose; each sender's sequence starts
        // afresh from the first message seen, not as a gap.
        if held.last_key_value().is_some_and(|(e, _)| epoch > e + 1) {
            self.peers.remove(conversation);
        }
        held.insert(epoch, hex::encode(authenticator));
        while held.len() > EPOCHS_KEPT {
            held.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed expectation is the test failing")]
    use super::*;

    fn sent(t: &mut TranscriptState, n: usize) -> Vec<(Envelope, Vec<u8>)> {
        let payloads: Vec<Payload> = (0..n).map(|i| Payload::text(&format!("m{i}"))).collect();
        t.seal("c", &payloads).into_iter().map(|b| (Envelope::decode(&b).unwrap(), b)).collect()
    }

    #[test]
    fn gaps_late_arrivals_duplicates_and_copies() {
        let mut alice = TranscriptState::default();
        let msgs = sent(&mut alice, 5);
        assert_eq!(msgs.iter().map(|(e, _)| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        let mut bob = TranscriptState::default();
        let recv = |t: &mut TranscriptState, i: usize| t.receive("c", "d", "alice", &msgs[i].0, &msgs[i].1);
        assert_eq!(recv(&mut bob, 0), Verdict::Fresh { late: false });
        assert_eq!(recv(&mut bob, 3), Verdict::Fresh { late: false });
        assert_eq!(recv(&mut bob, 2), Verdict::Fresh { late: false });
        assert_eq!(bob.peers["c"]["d"].missing, BTreeSet::from([2]));
        bob.peers.get_mut("c").unwrap().get_mut("d").unwrap().shown = 4;
        assert_eq!(recv(&mut bob, 1), Verdict::Fresh { late: true });
        assert!(bob.peers["c"]["d"].missing.is_empty());
        assert_eq!(recv(&mut bob, 1), Verdict::Duplicate);
        // A second copy of alice's device: same number, other payload.
        let mut copy = TranscriptState::default();
        copy.sent.insert("c".into(), Sent { seq: 4, prev: hash_hex(&msgs[3].1) });
        let other = sent(&mut copy, 1);
        assert_eq!(bob.receive("c", "d", "alice", &other[0].0, &other[0].1), Verdict::Fresh { late: false });
        assert_eq!(recv(&mut bob, 4), Verdict::Clone);
    }

    #[test]
    fn a_next_message_that_follows_another_previous_is_a_copy() {
        let mut alice = TranscriptState::default();
        let msgs = sent(&mut alice, 2);
        let mut copy = TranscriptState::default();
        copy.sent.insert("c".into(), Sent { seq: 1, prev: "ff".repeat(32) });
        let forked = sent(&mut copy, 1);
        let mut bob = TranscriptState::default();
        assert_eq!(bob.receive("c", "d", "alice", &msgs[0].0, &msgs[0].1), Verdict::Fresh { late: false });
        assert_eq!(bob.receive("c", "d", "alice", &forked[0].0, &forked[0].1), Verdict::Clone);
        assert_eq!(bob.receive("c", "d", "alice", &msgs[1].0, &msgs[1].1), Verdict::Fresh { late: false });
    }


    #[test]
    fn skipped_epochs_start_sequences_afresh() {
        let mut t = TranscriptState::default();
        t.note_epoch("c", 1, &[1]);
        t.peers.entry("c".into()).or_default().insert("d".into(), PeerLog { highest: 3, ..Default::default() });
        t.note_epoch("c", 2, &[2]);
        assert!(t.peers.contains_key("c"));
        t.note_epoch("c", 5, &[5]);
        assert!(!t.peers.contains_key("c"));
    }
}
