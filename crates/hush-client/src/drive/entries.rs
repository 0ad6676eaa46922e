//! A space's folders and entries: listing (`ls`), making folders, moving and removing.

use hush_core::files::{self, EntryKind, Manifest, Tree};

use super::space::Changes;
use super::{ListItem, Location, check_new_name, split_path, usage};
use crate::{Client, ClientError};

impl Client {
    /// Lists a folder (or shows one file).
    pub async fn ls(&mut self, spec: &str) -> Result<(Location, Vec<ListItem>), ClientError> {
        self.sync().await?;
        let loc = self.locate(spec, false).await?;
        let tree = self.load_tree(&loc).await?;
        let entry = tree.lookup(&loc.path).map_err(usage)?;
        let items: Vec<&Manifest> = match entry {
            Some(m) if m.kind == EntryKind::File => vec![m],
            Some(m) => tree.children(Some(&m.entry_id)),
            None => tree.children(None),
        };
        let items = items
            .into_iter()
            .map(|m| {
                let cur = m.current();
                ListItem {
                    name: m.name.clone(),
                    path: tree.path_of(&m.entry_id),
                    kind: match m.kind {
                        EntryKind::File => "file".into(),
                        EntryKind::Folder => "folder".into(),
                    },
                    size: cur.map_or(0, |v| v.size),
                    modified_at: cur.map_or(m.created_at, |v| v.modified_at),
                    author: cur.map(|v| v.author.clone()).unwrap_or_default(),
                    signed_by: tree.signers.get(&m.entry_id).cloned().unwrap_or_default(),
                    author_shown: tree.author_shown(&m.entry_id),
                    version: cur.map_or(0, |v| v.version),
                    versions_kept: m.versions.len(),
                    mime: cur.map(|v| v.mime.clone()).unwrap_or_default(),
                }
            })
            .collect();
        Ok((loc, items))
    }

    /// Makes a folder (and any missing parents).
    pub async fn mkdir(&mut self, spec: &str) -> Result<Location, ClientError> {
        self.sync().await?;
        let loc = self.locate(spec, true).await?;
        if loc.path.is_empty() {
            return Err(usage("name the folder to make"));
        }
        let path = loc.path.clone();
        self.change_space(&loc, false, |tree| {
            let (changes, _) = make_folders(tree, &split_path(&path), true)?;
            Ok(changes)
        })
        .await?;
        Ok(loc)
    }

    /// Moves or renames an entry inside one space.
    pub async fn mv(&mut self, from: &str, to: &str) -> Result<(), ClientError> {
        self.sync().await?;
        let src = self.locate(from, false).await?;
        let dst = self.locate(to, false).await?;
        if src.space != dst.space {
            return Err(usage("mv moves inside one space; to give a file to a conversation, use `hush share`"));
        }
        let (sp, dp) = (src.path.clone(), dst.path.clone());
        self.change_space(&src, false, |tree| {
            let m = tree.lookup(&sp).map_err(usage)?.ok_or_else(|| usage("can't move the root of a space"))?;
            let (parent, name) = match tree.lookup(&dp) {
                Ok(Some(d)) if d.kind == EntryKind::Folder => (Some(d.entry_id.clone()), m.name.clone()),
                Ok(Some(_)) => return Err(usage(format!("{dp} already exists; remove it first"))),
                Ok(None) => (None, m.name.clone()),
                Err(_) => {
                    let parts = split_path(&dp);
                    let (last, dir) = parts.split_last().ok_or_else(|| usage("name where to move it"))?;
                    let parent = match tree.lookup(&dir.join("/")).map_err(usage)? {
                        Some(d) if d.kind == EntryKind::Folder => Some(d.entry_id.clone()),
                        Some(_) => return Err(usage(format!("{} is a file, not a folder", dir.join("/")))),
                        None => None,
                    };
                    (parent, (*last).to_owned())
                }
            };
            check_new_name(&name)?;
            if let Some(p) = &parent
                && tree.subtree(&m.entry_id).iter().any(|x| &x.entry_id == p)
            {
                return Err(usage("can't move a folder into itself"));
            }
            if tree.children(parent.as_deref()).iter().any(|c| c.name == name && c.entry_id != m.entry_id) {
                return Err(usage(format!("there is already something named {name} there")));
            }
            let mut moved = m.clone();
            moved.parent = parent;
            moved.name = name;
            Ok(Changes { put: vec![moved], delete: vec![] })
        })
        .await
    }

    /// Removes a file, or a folder with `recursive` (or when empty). The blobs no entry
    /// refers to any more are deleted by the server.
    pub async fn rm(&mut self, spec: &str, recursive: bool) -> Result<usize, ClientError> {
        self.sync().await?;
        let loc = self.locate(spec, false).await?;
        let path = loc.path.clone();
        let mut removed = 0;
        self.change_space(&loc, false, |tree| {
            let m = tree.lookup(&path).map_err(usage)?.ok_or_else(|| usage("name what to remove"))?;
            let all: Vec<String> = tree.subtree(&m.entry_id).iter().map(|x| x.entry_id.clone()).collect();
            if all.len() > 1 && !recursive {
                return Err(usage(format!("{path} is a folder with things in it; use --recursive to remove it all")));
            }
            removed = all.len();
            Ok(Changes { put: vec![], delete: all })
        })
        .await?;
        Ok(removed)
    }
}

/// Folders along `dirs` from the root, made where missing (unless `must_be_new` asks for
/// the last one to be new). Returns the changes and the last folder's id.
pub(super) fn make_folders(tree: &Tree, dirs: &[&str], must_be_new: bool) -> Result<(Changes, Option<String>), ClientError> {
    let mut changes = Changes::default();
    let mut parent: Option<String> = None;
    let mut made = false;
    for (i, name) in dirs.iter().enumerate() {
        check_new_name(name)?;
        let existing = if made { None } else { tree.children(parent.as_deref()).into_iter().find(|c| c.name == *name) };
        match existing {
            Some(e) if e.kind == EntryKind::File => return Err(usage(format!("{} is a file, not a folder", dirs[..=i].join("/")))),
            Some(_) if must_be_new && i + 1 == dirs.len() => return Err(usage(format!("{} already exists", dirs.join("/")))),
            Some(e) => parent = Some(e.entry_id.clone()),
            None => {
                let m = Manifest {
                    entry_id: files::new_entry_id(),
                    kind: EntryKind::Folder,
                    parent: parent.clone(),
                    name: (*name).to_owned(),
                    created_at: hush_core::now_ms(),
                    versions: vec![],
                    shared_from: None,
                };
                parent = Some(m.entry_id.clone());
                changes.put.push(m);
                made = true;
            }
        }
    }
    Ok((changes, parent))
}
