//! Trees: a space's listing after every check (state, rows, writers, folders), and what a listing shows.

use super::*;

/// A space's listing after every check.
#[derive(Debug)]
pub struct Tree {
    /// The space.
    pub space: String,
    /// The state's version (0: empty space).
    pub version: u64,
    /// SHA-256 of the signed state (empty at version 0).
    pub hash: String,
    /// Every entry by id.
    pub entries: BTreeMap<String, Manifest>,
    /// The SHA-256 (hex) of each entry's row, as the signed state lists them.
    pub row_hashes: BTreeMap<String, String>,
    /// For each entry, the user whose device signed its row (who last changed it). A
    /// version's `author` is what the row claims; when the current version's author is
    /// not this user, listings say so (see [`Tree::author_shown`]).
    pub signers: BTreeMap<String, String>,
}


/// Checks a space's signed state and rows as the server served them, and returns the tree.
///
/// Refused: a state not signed by a device `trust` accepts, for another space, older than
/// `seen` or not continuing it (the states in between, `history`, are checked with
/// [`check_chain`]; their signers with `trust`); a row missing (hidden), extra (planted) or
/// not matching its hash (swapped or edited); a row whose writer `trust` refuses or that
/// doesn't open with the space's keys; a tree whose folders don't hold together.
#[allow(clippy::too_many_arguments)]
pub fn open_space(
    space: &str,
    version: u64,
    state: Option<&[u8]>,
    rows: &[(String, Vec<u8>)],
    seen: Option<&Seen>,
    history: &[Vec<u8>],
    keys: &dyn Fn(u64) -> Option<SpaceKey>,
    trust: &mut dyn FnMut(&CertificateBody) -> Result<(), String>,
) -> Result<Tree, FileError> {
    let Some(state) = state else {
        if let Some(s) = seen
            && s.version > 0
        {
            return Err(FileError::Tampered(format!(
                "the server says this space is empty, but this device already saw version {} of it (rolled back?)",
                s.version
            )));
        }
        if !rows.is_empty() {
            return Err(FileError::Tampered("the server lists entries in a space that has no signed state (planted?)".into()));
        }
        return Ok(Tree {
            space: space.to_owned(),
            version: 0,
            hash: String::new(),
            entries: BTreeMap::new(),
            row_hashes: BTreeMap::new(),
            signers: BTreeMap::new(),
        });
    };
    let (body, writer) = SignedState::open(state)?;
    trust(&writer).map_err(|e| FileError::Tampered(format!("the space's state is signed by {}: {e}", writer.username)))?;
    if body.space != space {
        return Err(FileError::Tampered("the server served the state of another space".into()));
    }
    if body.version != version {
        return Err(FileError::Tampered("the server's version number doesn't match the signed state".into()));
    }
    let hash = sha256_hex(state);
    if let Some(s) = seen {
        if body.version < s.version {
            return Err(FileError::Tampered(format!(
                "the server served version {} of this space, older than version {} this device already saw (rolled back?)",
                body.version, s.version
            )));
        }
        if s.version > 0 {
            check_chain(space, s, &body, &hash, history, trust)?;
        }
    }
    let served: BTreeSet<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    if served.len() != rows.len() {
        return Err(FileError::Tampered("the server listed an entry twice".into()));
    }
    for id in body.entries.keys() {
        if !served.contains(id.as_str()) {
            return Err(FileError::Tampered(format!("the server hid the entry {} from this listing", short(id))));
        }
    }
    let mut entries = BTreeMap::new();
    let mut signers = BTreeMap::new();
    for (id, row) in rows {
        let Some(expected) = body.entries.get(id) else {
            return Err(FileError::Tampered(format!(
                "the server listed an entry {} that the signed state doesn't have (planted?)",
                short(id)
            )));
        };
        if &sha256_hex(row) != expected {
            return Err(FileError::Tampered(format!(
                "the entry {} isn't the one the signed state names (swapped or edited on the server)",
                short(id)
            )));
        }
        let opened = SealedRow::open(space, id, row, keys)?;
        trust(&opened.writer)
            .map_err(|e| FileError::Tampered(format!("the entry {} is signed by {}: {e}", short(id), opened.writer.username)))?;
        signers.insert(id.clone(), opened.writer.username.clone());
        entries.insert(id.clone(), opened.manifest);
    }
    check_tree(&entries)?;
    Ok(Tree { space: space.to_owned(), version: body.version, hash, entries, row_hashes: body.entries, signers })
}

/// Folders hold together: parents exist and are folders, no cycles, names unique in a
/// folder, files have versions and folders none.
fn check_tree(entries: &BTreeMap<String, Manifest>) -> Result<(), FileError> {
    let bad = |m: String| Err(FileError::Tampered(m));
    let mut names = BTreeSet::new();
    for (id, m) in entries {
        if check_name(&m.name).is_err() {
            return bad(format!("the entry {} has an invalid name", short(id)));
        }
        let hex_of = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        for v in &m.versions {
            if !hex_of(&v.blob_id, 32) || !hex_of(&v.blob_sha256, 64) {
                return bad(format!("the entry {} names its content in a way hush refuses", short(id)));
            }
            if crate::username::validate(&v.author).is_err()
                || v.mime.len() > 127
                || !v.mime.bytes().all(|b| b.is_ascii_graphic())
            {
                return bad(format!("the entry {} has an invalid author or type", short(id)));
            }
        }
        match m.kind {
            EntryKind::File if m.versions.is_empty() => return bad(format!("the file {} has no content", m.name)),
            EntryKind::Folder if !m.versions.is_empty() => return bad(format!("the folder {} has content", m.name)),
            _ => {}
        }
        if !names.insert((m.parent.clone(), m.name.clone())) {
            return bad(format!("two entries are named {} in one folder", m.name));
        }
        // Walk up to the root; more steps than entries means a cycle.
        let mut at = m.parent.clone();
        let mut steps = 0;
        while let Some(p) = at {
            let Some(parent) = entries.get(&p) else {
                return bad(format!("{} is in a folder that isn't in the space", m.name));
            };
            if parent.kind != EntryKind::Folder {
                return bad(format!("{} is inside a file", m.name));
            }
            steps += 1;
            if steps > entries.len() {
                return bad("the folders form a cycle".into());
            }
            at = parent.parent.clone();
        }
    }
    Ok(())
}

impl Tree {
    /// Who put an entry's current version, as a listing shows it: the author the row names
    /// when that is the user whose device signed the row, otherwise both ("alice, as
    /// claimed by bob"): a row's author is only what its signer says, so another member
    /// who renamed, moved or re-sealed the entry, or one who lies about who wrote it, is
    /// never hidden behind the claimed name.
    pub fn author_shown(&self, id: &str) -> String {
        let Some(m) = self.entries.get(id) else { return String::new() };
        let signer = self.signers.get(id).map(String::as_str).unwrap_or_default();
        match m.current() {
            Some(v) if v.author == signer => v.author.clone(),
            Some(v) => format!("{}, as claimed by {signer}", v.author),
            None => signer.to_owned(),
        }
    }

    /// The entry at a slash-separated path (`""` or `"/"`: the root, `None`).
    pub fn lookup(&self, path: &str) -> Result<Option<&Manifest>, String> {
        let mut at: Option<&Manifest> = None;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let parent = at.map(|m| m.entry_id.clone());
            at = Some(
                self.entries
                    .values()
                    .find(|m| m.parent == parent && m.name == part)
                    .ok_or_else(|| format!("no such file or folder: {path}"))?,
            );
        }
        Ok(at)
    }

    /// The entries directly in a folder (`None`: the root), by name.
    pub fn children(&self, folder: Option<&str>) -> Vec<&Manifest> {
        let mut v: Vec<&Manifest> = self.entries.values().filter(|m| m.parent.as_deref() == folder).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// An entry and everything under it, the entry first.
    pub fn subtree(&self, id: &str) -> Vec<&Manifest> {
        let mut out = Vec::new();
        let mut queue = vec![id.to_owned()];
        while let Some(i) = queue.pop() {
            if let Some(m) = self.entries.get(&i) {
                out.push(m);
                queue.extend(self.entries.values().filter(|c| c.parent.as_deref() == Some(i.as_str())).map(|c| c.entry_id.clone()));
            }
        }
        out
    }

    /// The path of an entry.
    pub fn path_of(&self, id: &str) -> String {
        let mut parts = Vec::new();
        let mut at = Some(id.to_owned());
        while let Some(i) = at {
            match self.entries.get(&i) {
                Some(m) => {
                    parts.push(m.name.clone());
                    at = m.parent.clone();
                }
                None => break,
            }
            if parts.len() > self.entries.len() {
                break;
            }
        }
        parts.reverse();
        parts.join("/")
    }
}
