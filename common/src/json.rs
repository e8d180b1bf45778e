//! JSON string escaping, for the reports both libraries write by hand (they
//! take no serialisation dependency).

use std::fmt::Write;

/// How control characters other than `"` and `\` are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controls {
    /// Every one as `\u00XX` (the shim's stats and traces).
    Unicode,
    /// `\n`, `\r`, `\t` by their short escapes, the others as `\u00XX`
    /// (the simulator's report).
    Short,
}

/// Appends `s` to `out` escaped for the inside of a JSON string.
pub fn escape_into(out: &mut String, s: &str, controls: Controls) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' if controls == Controls::Short => out.push_str("\\n"),
            '\r' if controls == Controls::Short => out.push_str("\\r"),
            '\t' if controls == Controls::Short => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `s` escaped for the inside of a JSON string (no quotes added).
pub fn escape(s: &str, controls: Controls) -> String {
    let mut o = String::with_capacity(s.len());
    escape_into(&mut o, s, controls);
    o
}

/// `s` as a JSON string, quotes included.
pub fn quoted(s: &str, controls: Controls) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    escape_into(&mut o, s, controls);
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backslashes_and_controls_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd\u{1}", Controls::Unicode), "a\\\"b\\\\c\\u000ad\\u0001");
        assert_eq!(escape("a\"b\\c\nd\u{1}\t\r", Controls::Short), "a\\\"b\\\\c\\nd\\u0001\\t\\r");
        assert_eq!(quoted("x\u{1f}", Controls::Short), "\"x\\u001f\"");
        assert_eq!(escape("é ok", Controls::Unicode), "é ok");
    }
}
