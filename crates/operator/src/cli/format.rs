//! Output formatting, pure: kubectl's ages, aligned tables, timestamps. No I/O here.

use jiff::{SignedDuration, Timestamp};

/// What a table cell shows for a missing value, as kubectl's custom columns do.
pub const NONE: &str = "<none>";

/// How long ago `then` was, in kubectl's short form (`45s`, `3m20s`, `5h`, `2d4h`, `3y20d`).
pub fn age(now: Timestamp, then: Timestamp) -> String {
    human_duration(now.duration_since(then))
}

/// `age` for an optional time; `<none>` when absent.
pub fn age_or_none(now: Timestamp, then: Option<Timestamp>) -> String {
    then.map(|t| age(now, t)).unwrap_or_else(|| NONE.to_owned())
}

/// A time that may lie ahead: `in 3m` when it is in the future, the age otherwise.
pub fn relative(now: Timestamp, then: Timestamp) -> String {
    if then > now {
        format!("in {}", human_duration(then.duration_since(now)))
    } else {
        age(now, then)
    }
}

/// kubectl's human duration: the two most significant units while they say something, one after.
/// A small negative duration (clock skew between machines) reads `0s`; a large one `<invalid>`.
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let years = days / 365;
    let pair = |major: i64, major_unit: &str, minor: i64, minor_unit: &str| {
        if minor == 0 {
            format!("{major}{major_unit}")
        } else {
            format!("{major}{major_unit}{minor}{minor_unit}")
        }
    };
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        pair(minutes, "m", seconds % 60, "s")
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        pair(hours, "h", minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        pair(days, "d", hours % 24, "h")
    } else if days < 365 * 2 {
        format!("{days}d")
    } else if years < 8 {
        pair(years, "y", days % 365, "d")
    } else {
        format!("{years}y")
    }
}

/// A timestamp as kubectl shows it in YAML (`2024-05-01T12:00:00Z`), to the second.
pub fn timestamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `timestamp (age ago)`, as in `describe`.
pub fn timestamp_and_age(now: Timestamp, t: Timestamp) -> String {
    format!("{} ({} ago)", timestamp(t), age(now, t))
}

/// A table like kubectl's: upper-case headers, columns left-aligned and three spaces apart, the
/// last column unpadded.
#[derive(Debug, Clone, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            rows: vec![headers.into_iter().map(Into::into).collect()],
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The widths of the columns: the widest cell of each.
    pub fn widths(&self) -> Vec<usize> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// The table as text, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let widths = self.widths();
        self.rows.iter().map(|r| render_row(&widths, r)).collect()
    }

    /// The table indented by `indent` spaces (for `describe`).
    pub fn render_indented(&self, indent: usize) -> String {
        let pad = " ".repeat(indent);
        self.render()
            .lines()
            .map(|l| format!("{pad}{l}\n"))
            .collect()
    }
}

/// One row padded to `widths` (a later row of a watched table keeps the first rows' widths, as
/// kubectl's does, widening a column only when a cell does not fit).
pub fn render_row(widths: &[usize], row: &[String]) -> String {
    let mut line = String::new();
    for (i, cell) in row.iter().enumerate() {
        line.push_str(cell);
        if i + 1 < row.len() {
            let width = widths.get(i).copied().unwrap_or(0);
            let fill = width.saturating_sub(cell.chars().count()) + 3;
            line.push_str(&" ".repeat(fill));
        }
    }
    line.push('\n');
    line
}

/// `Key:` followed by the value, the values of one block aligned at `width` (as in `describe`).
pub fn field(indent: usize, width: usize, key: &str, value: &str) -> String {
    let label = format!("{key}:");
    format!(
        "{}{label:<width$}{value}\n",
        " ".repeat(indent),
        width = width.max(label.len() + 1)
    )
}

/// Counts by phase as one cell (`2 running, 1 pending`), `0` with none.
pub fn phase_counts<'a>(counts: impl Iterator<Item = (&'a str, i64)>) -> String {
    let parts: Vec<String> = counts.map(|(phase, n)| format!("{n} {phase}")).collect();
    if parts.is_empty() {
        "0".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (125, "2m5s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 25 * 60, "3h25m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (2 * 86400 + 4 * 3600, "2d4h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (3 * 365 * 86400 + 20 * 86400, "3y20d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, want) in cases {
            assert_eq!(human_duration(secs(seconds)), want, "{seconds}s");
        }
    }

    #[test]
    fn ages_and_future_times() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let earlier: Timestamp = "2024-05-01T11:57:00Z".parse().unwrap();
        let later: Timestamp = "2024-05-01T12:05:00Z".parse().unwrap();
        assert_eq!(age(now, earlier), "3m");
        assert_eq!(relative(now, later), "in 5m");
        assert_eq!(relative(now, earlier), "3m");
        assert_eq!(age_or_none(now, None), "<none>");
        assert_eq!(
            timestamp_and_age(now, earlier),
            "2024-05-01T11:57:00Z (3m ago)"
        );
    }

    #[test]
    fn tables_align_columns_three_spaces_apart() {
        let mut table = Table::new(["NAME", "STATE", "AGE"]);
        table.push(vec!["spark-pi".into(), "RUNNING".into(), "5s".into()]);
        table.push(vec!["x".into(), "COMPLETED".into(), "2d4h".into()]);
        assert_eq!(
            table.render(),
            "NAME       STATE       AGE\n\
             spark-pi   RUNNING     5s\n\
             x          COMPLETED   2d4h\n"
        );
        assert_eq!(table.widths(), [8, 9, 4]);
    }

    #[test]
    fn a_later_row_keeps_the_widths_and_overflows_when_it_must() {
        assert_eq!(
            render_row(&[4, 2], &["ab".into(), "c".into(), "d".into()]),
            "ab     c    d\n"
        );
        assert_eq!(
            render_row(&[2], &["abcdef".into(), "g".into()]),
            "abcdef   g\n"
        );
    }

    #[test]
    fn fields_align_their_values() {
        assert_eq!(field(0, 8, "Name", "pi"), "Name:   pi\n");
        assert_eq!(field(2, 4, "Namespace", "x"), "  Namespace: x\n");
    }

    #[test]
    fn an_indented_table() {
        let mut table = Table::new(["A", "B"]);
        table.push(vec!["1".into(), "2".into()]);
        assert_eq!(table.render_indented(2), "  A   B\n  1   2\n");
    }
}
