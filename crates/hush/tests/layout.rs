//! The shape of the code, checked: no source file over the size a newcomer can read in one
//! sitting, and no module cycles inside any crate.
//!
//! The check is the command `cargo nextest run --release -p hush --test layout`. It reads every
//! `crates/*/src` tree, turns each file into its module path (`src/drive/upload.rs` is
//! `drive::upload`), resolves every `crate::…`, `super::…` and `self::…` path written in it to
//! the module it names, and records an edge between the two sibling modules where the paths of
//! the user and the used part. A cycle among siblings at any level fails the test with the
//! modules on it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Lines a source file may hold (tests excepted): the "~600", with a little slack for
/// a doc comment.
const MAX_LINES: usize = 650;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crate_dirs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(workspace().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    out.sort();
    assert!(out.len() >= 5, "expected the five crates, found {out:?}");
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`; `src/lib.rs` and `src/main.rs` are `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> =
        rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The text of a file without comments, string literals and `#[cfg(test)]` modules.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // Skip the attribute and the item after it (a `mod tests { … }` to its closing brace
            // at the same indentation).
            let indent = line.len() - trimmed.len();
            for next in lines.by_ref() {
                let t = next.trim_start();
                if next.len() - t.len() == indent && t.starts_with('}') {
                    break;
                }
                if next.len() - t.len() == indent && t.ends_with(';') && !t.starts_with("mod") {
                    break;
                }
            }
            continue;
        }
        let code = match trimmed.find("//") {
            Some(i) if !trimmed[..i].contains('"') => &trimmed[..i],
            _ => trimmed,
        };
        // Drop string literals (a path inside a message is not a use).
        let mut in_str = false;
        let mut prev = ' ';
        for c in code.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// Every path in `code` that starts with `crate::`, `super::` or `self::`, expanded through
/// `{…}` groups, as the list of its segments (the first kept as written).
fn paths(code: &str) -> Vec<Vec<String>> {
    let bytes: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        if boundary {
            for head in ["crate::", "super::", "self::"] {
                let h: Vec<char> = head.chars().collect();
                if bytes[i..].starts_with(&h) {
                    let (found, end) = expand(&bytes, i);
                    out.extend(found);
                    i = end;
                    break;
                }
            }
        }
        i += 1;
    }
    out
}

/// Reads one path starting at `start` (with `a::{b, c::d}` groups), returns its expansions.
fn expand(chars: &[char], start: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            i += 1;
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            prefix.push(std::mem::take(&mut word));
            i += 2;
            if chars.get(i) == Some(&'{') {
                let mut all = Vec::new();
                i += 1;
                loop {
                    while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                        i += 1;
                    }
                    if i >= chars.len() || chars[i] == '}' {
                        break;
                    }
                    let (inner, end) = expand(chars, i);
                    for mut p in inner {
                        let mut full = prefix.clone();
                        full.append(&mut p);
                        all.push(full);
                    }
                    i = end.max(i + 1);
                    // Skip anything up to the next separator (`as name`, generics).
                    let mut depth = 0;
                    while i < chars.len() {
                        match chars[i] {
                            '{' | '<' => depth += 1,
                            '>' if depth > 0 => depth -= 1,
                            '}' if depth > 0 => depth -= 1,
                            ',' | '}' if depth == 0 => break,
                            _ => {}
                        }
                        i += 1;
                    }
                }
                return (all, i + 1);
            }
        } else {
            break;
        }
    }
    if !word.is_empty() {
        prefix.push(word);
    }
    (vec![prefix], i)
}

/// Items a module re-exports from a child (`pub use child::Item;`), so that `crate::Item`
/// counts as a use of `child`.
type Reexports = BTreeMap<(Vec<String>, String), Vec<String>>;

fn reexports(module: &[String], code: &str, modules: &BTreeSet<Vec<String>>, out: &mut Reexports) {
    for stmt in code.split(';') {
        let t = stmt.trim();
        let Some(rest) = t.strip_prefix("pub use ").or_else(|| t.strip_prefix("pub(crate) use ")) else { continue };
        let rest = rest.trim_start_matches("self::");
        let chars: Vec<char> = rest.chars().collect();
        let (found, _) = expand(&chars, 0);
        for p in found {
            let Some((item, path)) = p.split_last() else { continue };
            let mut abs = module.to_vec();
            abs.extend(path.iter().cloned());
            if path.first().is_some_and(|c| c != "crate" && c != "super") && modules.contains(&abs) {
                out.insert((module.to_vec(), item.clone()), abs);
            }
        }
    }
}

/// Resolves a written path to the deepest known module it names.
fn resolve(
    from: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
    reexported: &Reexports,
) -> Option<Vec<String>> {
    let mut abs: Vec<String> = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") | Some("super") => {
            abs = from.to_vec();
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "self" => rest = &rest[1..],
                    "super" => {
                        abs.pop()?;
                        rest = &rest[1..];
                    }
                    _ => break,
                }
            }
        }
        _ => return None,
    }
    for seg in rest {
        let mut next = abs.clone();
        next.push(seg.clone());
        if modules.contains(&next) {
            abs = next;
        } else {
            if let Some(target) = reexported.get(&(abs.clone(), seg.clone())) {
                abs = target.clone();
            }
            break;
        }
    }
    Some(abs)
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_source_file_is_over_the_size_a_newcomer_reads_in_one_sitting() {
    let mut too_long = Vec::new();
    for dir in crate_dirs() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in files {
            let n = fs::read_to_string(&f).unwrap().lines().count();
            if n > MAX_LINES {
                too_long.push(format!("{} ({n} lines)", f.strip_prefix(workspace()).unwrap_or(&f).display()));
            }
        }
    }
    assert!(too_long.is_empty(), "files over {MAX_LINES} lines: {too_long:#?}");
}

#[test]
fn no_crate_has_a_module_cycle() {
    let mut cycles = Vec::new();
    let mut edges_seen = 0;
    for dir in crate_dirs() {
        let src = dir.join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(&src, f)).collect();
        let mut reexported = Reexports::new();
        for f in &files {
            reexports(&module_path(&src, f), &code_only(&fs::read_to_string(f).unwrap()), &modules, &mut reexported);
        }
        // Per parent module: the edges among its children.
        let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for f in &files {
            let from = module_path(&src, f);
            let code = code_only(&fs::read_to_string(f).unwrap());
            for p in paths(&code) {
                let Some(to) = resolve(&from, &p, &modules, &reexported) else { continue };
                let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
                if common < from.len() && common < to.len() {
                    graphs
                        .entry(from[..common].to_vec())
                        .or_default()
                        .entry(from[common].clone())
                        .or_default()
                        .insert(to[common].clone());
                    edges_seen += 1;
                }
            }
        }
        for (parent, graph) in &graphs {
            if let Some(c) = find_cycle(graph) {
                let name = dir.file_name().unwrap().to_string_lossy().to_string();
                cycles.push(format!("{name} {}: {}", if parent.is_empty() { "(crate root)".to_string() } else { parent.join("::") }, c.join(" -> ")));
            }
        }
    }
    // The reader must have found the crates' uses, or the check proves nothing.
    assert!(edges_seen > 100, "only {edges_seen} module uses found: the scanner is broken");
    assert!(cycles.is_empty(), "module cycles: {cycles:#?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(4));
    let code = "use crate::{a::{b, c::D}, e};\nfn f() { super::g::h(); let s = \"crate::x\"; }";
    let found = paths(&code_only(code));
    assert!(found.contains(&vec!["crate".into(), "a".into(), "b".into()]), "{found:?}");
    assert!(found.contains(&vec!["crate".into(), "a".into(), "c".into(), "D".into()]), "{found:?}");
    assert!(found.contains(&vec!["crate".into(), "e".into()]), "{found:?}");
    assert!(found.contains(&vec!["super".into(), "g".into(), "h".into()]), "{found:?}");
    assert!(!found.iter().any(|p| p.contains(&"x".to_string())), "{found:?}");
}

/// Whether `name` is defined (as a function, type, module, constant or enum variant) in `src`.
fn defines(src: &str, name: &str) -> bool {
    let lower = name.chars().next().is_some_and(|c| c.is_lowercase() || c == '_');
    let kinds: &[&str] = if lower { &["fn ", "mod ", "static ", "let "] } else { &["struct ", "enum ", "trait ", "type ", "const ", "static "] };
    kinds.iter().any(|k| src.contains(&format!("{k}{name}")))
        || (!lower
            && src.lines().any(|l| {
                let t = l.trim_start();
                t.strip_prefix(name).is_some_and(|rest| rest.starts_with('(') || rest.starts_with(" {") || rest.starts_with(',') || rest.is_empty())
            }))
}

/// The docs a newcomer starts from (README's pointers and ARCHITECTURE's "where" answers)
/// name files, modules, types and functions; each must exist, so that a move which forgets
/// the docs fails here rather than sending the reader to nothing.
#[test]
fn the_docs_point_at_code_that_exists() {
    let root = workspace();
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    let mut all = String::new();
    for dir in crate_dirs() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        let mut text = String::new();
        for f in files {
            text.push_str(&fs::read_to_string(&f).unwrap());
            text.push('\n');
        }
        all.push_str(&text);
        sources.insert(dir.file_name().unwrap().to_string_lossy().replace('-', "_"), text);
    }
    let mut checked = 0;
    let mut missing = Vec::new();
    for doc in ["README.md", "docs/ARCHITECTURE.md"] {
        let text = fs::read_to_string(root.join(doc)).unwrap();
        for token in text.split('`').skip(1).step_by(2) {
            let token = token.trim_end_matches("()");
            if token.contains('<') || token.contains('*') {
                continue; // a pattern such as `crates/<crate>/src/` or `migrations/*.sql`
            }
            let token = if token.starts_with("hush") && token.contains("/src/") { &format!("crates/{token}") } else { token };
            if token.starts_with("crates/") {
                checked += 1;
                let path = token.split_whitespace().next().unwrap_or(token).trim_end_matches(['/', ',', ')']);
                if !root.join(path).exists() {
                    missing.push(format!("{doc}: {token}"));
                }
                continue;
            }
            let is_path = !token.is_empty()
                && token.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ':')
                && token.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
            let segments: Vec<&str> = token.split("::").collect();
            let shouting = !token.contains("::") && !token.chars().any(char::is_lowercase);
            let plain_word = !token.contains('_') && !token.contains("::") && !token.chars().any(char::is_uppercase);
            if !is_path || shouting || plain_word || segments.iter().any(|s| s.is_empty() || s.contains(':')) {
                continue; // a placeholder, a variable or a plain word, not a name from the code
            }
            let (crate_src, rest): (&str, &[&str]) = match sources.get(segments[0]) {
                Some(src) => (src.as_str(), &segments[1..]),
                None => (all.as_str(), &segments[..]),
            };
            let Some(last) = rest.last() else { continue };
            checked += 1;
            // A path into a hush crate must name something defined there; any other name (a
            // table, a column, a type hush uses from a dependency) must at least occur in the
            // sources.
            let qualified = sources.contains_key(segments[0]);
            let found = defines(crate_src, last) || (!qualified && all.contains(last)) || all.contains(&format!("\"{token}\""));
            if !found {
                missing.push(format!("{doc}: {token}"));
            }
        }
    }
    assert!(checked >= 40, "only {checked} code names found in the docs: the reader is broken");
    assert!(missing.is_empty(), "the docs name code that does not exist: {missing:#?}");
}

/// docs/ARCHITECTURE.md's map lists every module of every crate, so a newcomer can go from a
/// one-line description to the file.
#[test]
fn the_architecture_map_names_every_module() {
    let doc = fs::read_to_string(workspace().join("docs/ARCHITECTURE.md")).unwrap();
    let mut unlisted = Vec::new();
    for dir in crate_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let heading = format!("#### `{name}`\n");
        let start = doc.find(&heading).unwrap_or_else(|| panic!("ARCHITECTURE.md has no map section {heading:?}"));
        let section = &doc[start + heading.len()..];
        let section = &section[..section.find("\n#").unwrap_or(section.len())];
        let src = dir.join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let rel = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
            if !section.contains(&format!("- `{rel}` — ")) {
                unlisted.push(format!("{name}: {rel}"));
            }
        }
    }
    assert!(unlisted.is_empty(), "modules missing from the map in docs/ARCHITECTURE.md: {unlisted:#?}");
}
