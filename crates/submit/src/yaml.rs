//! YAML text of a JSON value that reads back the same in every YAML reader people pipe it into.
//!
//! YAML 1.2 emitters leave `on`, `yes`, `n`, `12:30`, `1_000` or `2024-01-01` unquoted, and YAML 1.1
//! readers (kubectl's, PyYAML) read them back as a boolean, a number or a date. Here a string is
//! written plain only when it cannot be anything but a string in either version; every other one is
//! double-quoted, and a multi-line string is a literal block when its text allows one.

use serde_json::Value;

/// The YAML document of `value` (block style, two-space indents, ending with a newline).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => sequence(&mut out, items, 0),
        scalar => {
            inline(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, level: usize) {
    out.extend(std::iter::repeat_n(' ', level));
}

fn mapping(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    for (key, value) in map {
        indent(out, level);
        out.push_str(&key_text(key));
        out.push(':');
        nested(out, value, level);
    }
}

fn sequence(out: &mut String, items: &[Value], level: usize) {
    for item in items {
        indent(out, level);
        out.push('-');
        match item {
            // A mapping starts on the dash's line, its other keys aligned under the first.
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                let mut first = String::new();
                mapping(&mut first, map, level + 2);
                out.push_str(&first[level + 2..]);
            }
            _ => nested(out, item, level),
        }
    }
}

/// What follows `key:` or `-`: a nested block on the next lines, or a scalar on this one.
fn nested(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            mapping(out, map, level + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            sequence(out, items, level + 2);
        }
        scalar => {
            out.push(' ');
            inline(out, scalar, level);
            out.push('\n');
        }
    }
}

/// A scalar or an empty collection on the current line (a literal block continues below it).
fn inline(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(out, s, level),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn string(out: &mut String, s: &str, level: usize) {
    if is_plain(s) {
        out.push_str(s);
    } else if fits_literal_block(s) {
        literal_block(out, s, level + 2);
    } else {
        out.push_str(&quoted(s));
    }
}

fn key_text(key: &str) -> String {
    if is_plain(key) {
        key.to_owned()
    } else {
        quoted(key)
    }
}

/// Words YAML 1.1 reads as booleans or null (compared without case, which covers more than the
/// spellings either version lists: quoting one too many costs nothing).
const SPECIAL_WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// Whether `s` can be written bare and is read back as this string by YAML 1.1 and 1.2 readers: it
/// starts with a letter, `_` or `/` (so never a number, date, time, sign, `.inf`, anchor, tag or other
/// indicator), holds only characters that are never syntax inside a plain scalar, and is no special word.
fn is_plain(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || first == '/')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-./=+@,".contains(c))
        && !SPECIAL_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w))
}

/// Whether a multi-line string can be a literal block: printable text whose first line does not start
/// with a space (that would need an indentation indicator) and with no carriage return.
fn fits_literal_block(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with(' ')
        && !s.starts_with('\n')
        && s.chars().all(|c| c == '\n' || c == '\t' || is_printable(c))
}

fn is_printable(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{85}')
}

/// `|`, `|-` or `|+` by how the text ends, then its lines indented to `level`.
fn literal_block(out: &mut String, s: &str, level: usize) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    for line in s[..body.len() + trailing.min(1)].split_inclusive('\n') {
        out.push('\n');
        if line != "\n" {
            indent(out, level);
        }
        out.push_str(line.trim_end_matches('\n'));
    }
    // Kept newlines beyond the first are empty lines of the block.
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// A double-quoted scalar; every character YAML does not allow bare in one (controls, and the line
/// and byte-order characters it would take as breaks) is escaped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if !is_printable(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Strings a YAML 1.1 or 1.2 reader would take for something else if they were left bare.
    const RETYPED: [&str; 24] = [
        "on",
        "On",
        "OFF",
        "yes",
        "No",
        "y",
        "N",
        "true",
        "False",
        "null",
        "~",
        "",
        "0755",
        "1_000",
        "12:30",
        "2024-01-01",
        "1e3",
        ".inf",
        "-.5",
        "+1",
        "0x1F",
        "0b101",
        "<<",
        "=",
    ];

    fn round_trip(value: &Value) -> Value {
        let text = to_string(value);
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn strings_that_would_be_retyped_are_quoted() {
        for s in RETYPED {
            let text = to_string(&json!({ "arg": s }));
            assert!(
                text.starts_with("arg: \""),
                "{s:?} left bare or single-quoted: {text}"
            );
            assert_eq!(round_trip(&json!({ "arg": s })), json!({ "arg": s }));
        }
    }

    #[test]
    fn ordinary_names_stay_bare() {
        let value = json!({"kind": "Pod", "image": "apache/spark", "class": "org.apache.spark.examples.SparkPi"});
        assert_eq!(
            to_string(&value),
            "class: org.apache.spark.examples.SparkPi\nimage: apache/spark\nkind: Pod\n"
        );
    }

    #[test]
    fn keys_are_quoted_by_the_same_rule() {
        let value = json!({"on": 1, "2024-01-01": "x", "spark.properties": "a"});
        let text = to_string(&value);
        assert!(text.contains("\"on\": 1"), "{text}");
        assert!(text.contains("\"2024-01-01\": x"), "{text}");
        assert!(text.contains("spark.properties: a"), "{text}");
        assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn nesting_sequences_of_mappings_and_empty_collections_read_back() {
        let value = json!({
            "apiVersion": "v1",
            "metadata": {"name": "pi-driver", "labels": {"version": "4.0.0", "a": "yes"}},
            "spec": {
                "containers": [{"name": "c", "args": ["driver", "on", "5000"], "env": [],
                    "resources": {"limits": {"memory": "896Mi"}}}],
                "volumes": [{"name": "conf", "configMap": {"name": "x", "items": [{"key": "k", "path": "p"}]}}],
                "nodeSelector": {},
                "priority": 0, "enabled": false, "ratio": 1.5, "none": null
            }
        });
        assert_eq!(round_trip(&value), value, "{}", to_string(&value));
    }

    #[test]
    fn multi_line_text_is_a_literal_block_with_its_ending_kept() {
        for s in [
            "spark.master=k8s://x\nspark.app.name=pi\n",
            "a\nb",
            "a\n\nb\n\n\n",
            "tab\there\n  indented line\n",
        ] {
            let value = json!({"data": {"spark.properties": s}});
            let text = to_string(&value);
            assert!(text.contains("spark.properties: |"), "{text}");
            assert_eq!(round_trip(&value), value, "{text}");
        }
        // Text a literal block cannot hold as it is is double-quoted instead.
        for s in [
            " leading space\nx",
            "\nfirst line empty",
            "cr\r\nlf",
            "bell\u{7}\n",
            "del\u{7f} and c1\u{9b}",
        ] {
            let value = json!({"s": s});
            let text = to_string(&value);
            assert!(text.starts_with("s: \""), "{text}");
            assert_eq!(round_trip(&value), value, "{text}");
        }
    }

    #[test]
    fn markup_quotes_and_unicode_survive() {
        for s in [
            "<script>alert(1)</script>",
            "it's \"quoted\"",
            "a: b",
            "# not a comment",
            "ünï\u{2028}code",
            "- dash",
            "key: value\n- not a list\n",
        ] {
            let value = json!([s]);
            assert_eq!(round_trip(&value), value, "{}", to_string(&value));
        }
    }
}
