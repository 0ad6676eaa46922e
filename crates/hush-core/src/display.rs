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

/// `YYYY-MM-DD HH:MM UTC` for a time in unix milliseconds; times outside what a calendar
/// can show are clamped to its ends.
pub fn date_utc(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(if ms < 0 {
        time::PrimitiveDateTime::MIN.assume_utc()
    } else {
        time::PrimitiveDateTime::MAX.assume_utc()
    });
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// A byte count for a person: "1 byte", "512 bytes", "1.5 MiB", "16 GiB" (binary units, at
/// most one decimal, none when it is zero).
pub fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return if n == 1 { "1 byte".to_owned() } else { format!("{n} bytes") };
    }
    let text = bytesize::ByteSize(n).display().iec().to_string();
    match text.split_once(' ') {
        Some((number, unit)) => format!("{} {unit}", number.strip_suffix(".0").unwrap_or(number)),
        None => text,
    }
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

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(date_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(date_utc(1_767_225_599_000), "2025-12-31 23:59 UTC");
        assert_eq!(date_utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(date_utc(-60_000), "1969-12-31 23:59 UTC");
        assert!(date_utc(i64::MAX).ends_with(" UTC"));
    }

    #[test]
    fn byte_counts_read_naturally() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1), "1 byte");
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(1024), "1 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10_000), "9.8 KiB");
        assert_eq!(human_bytes(16 * 1024 * 1024 * 1024), "16 GiB");
        assert_eq!(human_bytes(u64::MAX), "16 EiB");
    }
}
