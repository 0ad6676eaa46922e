//! docs/THREATS.md is checked against the code and the tests: every sentence it says a
//! user sees must be one hush can print, and every test it names must exist.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a failed expectation is the test failing")]

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_sources(dir: &Path, out: &mut String) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap());
            out.push('\n');
        }
    }
}

/// The literal pieces of a documented sentence: the text between `<placeholders>`.
fn pieces(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = sentence;
    while let Some(start) = rest.find('<') {
        out.push(rest[..start].to_owned());
        rest = rest[start..].find('>').map_or("", |end| &rest[start + end + 1..]);
    }
    out.push(rest.to_owned());
    out.into_iter().map(|p| p.trim().to_owned()).filter(|p| p.len() >= 8).collect()
}

#[test]
fn every_sentence_in_threats_md_is_printed_by_hush_and_every_named_test_exists() {
    let root = workspace();
    let doc = std::fs::read_to_string(root.join("docs/THREATS.md")).unwrap();
    let mut sources = String::new();
    for krate in ["hush-core", "hush-client", "hush-server", "hush"] {
        rust_sources(&root.join("crates").join(krate).join("src"), &mut sources);
    }
    let mut rows = 0;
    let mut quoted = 0;
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 4 || !cells[3].starts_with('`') {
            continue;
        }
        rows += 1;
        // The test: `file::name`.
        let named = cells[3].trim_matches('`');
        let (file, name) = named.split_once("::").unwrap_or_else(|| panic!("a test is named file::test: {line}"));
        // A bare file name is one of this crate's end-to-end tests; a path is from the root.
        let path = if file.contains('/') { root.join(format!("{file}.rs")) } else { root.join("crates/hush/tests").join(format!("{file}.rs")) };
        let test_src = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("THREATS.md names a test file that does not exist: {file}"));
        assert!(test_src.contains(&format!("fn {name}(")), "THREATS.md names a test that does not exist: {named}");
        // The sentence(s) the user sees, each in backticks (a row where the user rightly
        // sees nothing, such as a replay dropped, quotes none).
        let sentences: Vec<&str> = cells[2].split('`').skip(1).step_by(2).collect();
        quoted += sentences.len();
        for s in sentences {
            for piece in pieces(s) {
                assert!(sources.contains(&piece), "THREATS.md quotes a sentence hush does not print: {piece:?} (in {s:?})");
            }
        }
    }
    assert!(rows >= 10 && quoted >= rows, "THREATS.md lists its attacks in four-column tables with the sentences quoted ({rows} rows, {quoted} sentences)");
}
