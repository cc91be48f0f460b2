//! Spark configuration as an ordered map, and `spark.properties` written as `java.util.Properties.store`
//! writes it (the driver reads it back with `Properties.load`).

use std::collections::BTreeMap;

/// A Spark configuration: key to value. Keys are unique; later writes win, as with `--conf`.
///
/// Kept sorted so the rendered `spark.properties` is byte-for-byte deterministic (JDK 17's
/// `Properties.store` writes hash-table order; JDK 18 and later write sorted order, which we follow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparkConf {
    entries: BTreeMap<String, String>,
}

impl SparkConf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    /// Sets `key` only when it has no value yet (a default that user configuration overrides).
    pub fn set_if_absent(&mut self, key: &str, value: impl Into<String>) {
        if !self.entries.contains_key(key) {
            self.entries.insert(key.to_owned(), value.into());
        }
    }

    /// Moves every entry of `other` in, replacing earlier values (no copies of keys or values).
    pub fn extend(&mut self, other: SparkConf) {
        if self.entries.is_empty() {
            self.entries = other.entries;
        } else {
            self.entries.extend(other.entries);
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.entries.remove(key)
    }

    /// Entries whose key starts with `prefix`, with the prefix removed, in key order.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.entries
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(move |(k, v)| (&k[prefix.len()..], v.as_str()))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The text `Properties.store(writer, comment)` writes, without its date line (a date would make
    /// the plan differ on every build; `Properties.load` ignores comments anyway).
    pub fn to_properties(&self, comment: &str) -> String {
        let mut out = String::with_capacity(64 + self.entries.len() * 64);
        write_comment(&mut out, comment);
        for (key, value) in &self.entries {
            escape_into(&mut out, key, true);
            out.push('=');
            escape_into(&mut out, value, false);
            out.push('\n');
        }
        out
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for SparkConf {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut conf = SparkConf::new();
        for (k, v) in iter {
            conf.set(k, v);
        }
        conf
    }
}

/// `Properties.writeComments`: line breaks start a new `#` line, characters above U+00FF are
/// written as `\uXXXX`.
fn write_comment(out: &mut String, comment: &str) {
    out.push('#');
    let mut chars = comment.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
                match chars.peek() {
                    Some('#') | Some('!') => {}
                    _ => out.push('#'),
                }
            }
            c if u32::from(c) > 0xff => push_utf16_escapes(out, c),
            c => out.push(c),
        }
    }
    out.push('\n');
}

fn push_utf16_escapes(out: &mut String, c: char) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        out.push_str(&format!("\\u{unit:04X}"));
    }
}

/// `Properties.saveConvert` with `escUnicode = false` (the `store(Writer, ...)` flavour Spark uses):
/// keys escape every space, values only a leading one.
fn escape_into(out: &mut String, s: &str, is_key: bool) {
    // Copies runs of plain characters at once; only the few special ones are escaped one by one.
    // They are all ASCII, so scanning bytes is enough: a UTF-8 continuation byte never matches, and
    // every match is a char boundary.
    let mut plain_from = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let escaped = match b {
            b' ' if i == 0 || is_key => "\\ ",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            0x0c => "\\f",
            b'\\' => "\\\\",
            b'=' => "\\=",
            b':' => "\\:",
            b'#' => "\\#",
            b'!' => "\\!",
            _ => continue,
        };
        out.push_str(&s[plain_from..i]);
        out.push_str(escaped);
        plain_from = i + 1;
    }
    out.push_str(&s[plain_from..]);
}

/// Reads `Properties.load` text back into key/value pairs (used to compare with what Spark wrote).
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    // Join continuation lines first: a line ending in an odd number of backslashes continues.
    let mut logical: Vec<String> = Vec::new();
    let mut pending: Option<String> = None;
    for raw in text.lines() {
        let line = match pending.take() {
            Some(mut prev) => {
                prev.push_str(raw.trim_start_matches([' ', '\t', '\u{c}']));
                prev
            }
            None => {
                let trimmed = raw.trim_start_matches([' ', '\t', '\u{c}']);
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                    continue;
                }
                trimmed.to_owned()
            }
        };
        let trailing = line.chars().rev().take_while(|&c| c == '\\').count();
        if trailing % 2 == 1 {
            let mut l = line;
            l.pop();
            pending = Some(l);
        } else {
            logical.push(line);
        }
    }
    if let Some(l) = pending {
        logical.push(l);
    }
    for line in logical {
        let (key, rest) = split_key(&line);
        map.insert(unescape(key), unescape(rest));
    }
    map
}

fn split_key(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let key_end = i.min(bytes.len());
    let mut rest = &line[key_end..];
    rest = rest.trim_start_matches([' ', '\t', '\u{c}']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\u{c}']);
    }
    (&line[..key_end], rest)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_java_properties_store() {
        let conf: SparkConf = [
            ("spark.master", "k8s://https://kubernetes.default.svc:443"),
            ("spark.app.name", "Spark Pi"),
            ("a key", " leading space and = # ! \\ tab\there"),
            ("spark.x", "line1\nline2\r\u{c}"),
            ("unicode", "héllo ✓"),
        ]
        .into_iter()
        .collect();
        let text =
            conf.to_properties("Java properties built from Kubernetes config map with name: cm");
        let expected = "#Java properties built from Kubernetes config map with name: cm\n\
            a\\ key=\\ leading space and \\= \\# \\! \\\\ tab\\there\n\
            spark.app.name=Spark Pi\n\
            spark.master=k8s\\://https\\://kubernetes.default.svc\\:443\n\
            spark.x=line1\\nline2\\r\\f\n\
            unicode=héllo ✓\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn comment_lines_and_wide_chars() {
        let mut out = String::new();
        write_comment(&mut out, "a\nb\r\n#c ✓");
        assert_eq!(out, "#a\n#b\n#c \\u2713\n");
    }

    #[test]
    fn round_trips_through_parse() {
        let conf: SparkConf = [
            ("k:1", "v=1"),
            (" spaced key", "  two leading"),
            ("spark.driver.extraJavaOptions", "-Dx=y -Dz=\"a b\""),
            ("empty", ""),
        ]
        .into_iter()
        .collect();
        let parsed = parse_properties(&conf.to_properties("c"));
        let expected: BTreeMap<String, String> =
            conf.iter().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn parses_continuations_and_separators() {
        let parsed = parse_properties("! comment\n  a : b\nc   d\ne=f\\\n   g\n");
        assert_eq!(parsed.get("a").map(String::as_str), Some("b"));
        assert_eq!(parsed.get("c").map(String::as_str), Some("d"));
        assert_eq!(parsed.get("e").map(String::as_str), Some("fg"));
        assert_eq!(parsed.len(), 3);
    }

    #[test]
    fn prefix_iteration_strips_the_prefix() {
        let conf: SparkConf = [
            ("spark.kubernetes.driver.label.b", "2"),
            ("spark.kubernetes.driver.label.a", "1"),
            ("spark.kubernetes.driver.labelx", "no"),
            ("spark.kubernetes.driver.m", "no"),
        ]
        .into_iter()
        .collect();
        let got: Vec<_> = conf.with_prefix("spark.kubernetes.driver.label.").collect();
        assert_eq!(got, vec![("a", "1"), ("b", "2")]);
    }

    #[test]
    fn set_if_absent_keeps_user_values() {
        let mut conf = SparkConf::new();
        conf.set("a", "user");
        conf.set_if_absent("a", "default");
        conf.set_if_absent("b", "default");
        assert_eq!(conf.get("a"), Some("user"));
        assert_eq!(conf.get("b"), Some("default"));
    }
}
