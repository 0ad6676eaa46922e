//! Text that came from someone else (message text, conversation, user, device and file
//! names), made safe to show on a terminal or to hand to a program.
//!
//! Control characters (C0, DEL, C1) could move the cursor, erase a line or fake a new one;
//! bidirectional controls reorder what is shown (`exe\u{202e}txt.sh` shows as "exehs.txt");
//! a few invisible characters hide differences. Each is shown as a visible escape such as
//! `\u{1b}`. Every place hush prints something from someone else goes through [`escape`]
//! (one line) or [`escape_lines`] (message text, whose continuation lines are indented so
//! they can never pass for a line of their own).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown escaped: control characters, bidirectional controls and invisible
/// separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                // Other invisible format characters (soft hyphen, Mongolian vowel
                // separator, word joiner and invisible operators, deprecated format
                // controls, interlinear annotation, tags, Hangul fillers). The zero-width
                // joiners U+200C/U+200D stay: emoji and several scripts need them.
                | '\u{00AD}'
                | '\u{180E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{206A}'..='\u{206F}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{3164}'
                | '\u{FFA0}'
        )
}

/// Whether a name someone types (a file name at `put`) has characters hush won't store.
pub fn has_unsafe(s: &str) -> bool {
    s.chars().any(is_unsafe)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// One line: every unsafe character, newlines included, escaped.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !has_unsafe(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Several lines: newlines are kept, each followed by `continuation` (for the terminal,
/// an indent no first line starts with; for JSON, nothing), everything else unsafe escaped.
pub fn escape_lines<'a>(s: &'a str, continuation: &str) -> Cow<'a, str> {
    if !has_unsafe(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\n' {
            out.push('\n');
            out.push_str(continuation);
        } else if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `YYYY-MM-DD HH:MM UTC` (civil date from days since 1970, Howard Hinnant's algorithm).
pub fn date_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, (rem / 60) % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped_and_plain_text_is_untouched() {
        assert_eq!(escape("hello, wörld 👋"), "hello, wörld 👋");
        assert_eq!(escape("a\u{1b}[2Kb"), "a\\u{1b}[2Kb");
        assert_eq!(escape("exe\u{202e}txt.sh"), "exe\\u{202e}txt.sh");
        assert_eq!(escape("x\ny\rz\u{85}"), "x\\ny\\rz\\u{85}");
        assert_eq!(escape_lines("one\ntwo\u{7}", "    "), "one\n    two\\u{7}");
        assert_eq!(escape_lines("one\ntwo", ""), "one\ntwo");
        // A family emoji keeps its joiners.
        assert_eq!(escape("👨\u{200D}👩"), "👨\u{200D}👩");
        // Invisible format characters that could hide a difference between two names.
        assert_eq!(escape("ad\u{AD}min\u{2060}\u{E0041}"), "ad\\u{ad}min\\u{2060}\\u{e0041}");
    }
}
