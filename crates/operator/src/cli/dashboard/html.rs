//! The dashboard's pages as HTML text. Pure: every value from the cluster goes through [`escape`]
//! (text and attributes) or [`encode`] (URLs), so names, labels, messages and log lines are shown
//! as text and never run. The page works without script; the script adds live updates and the
//! log follow.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};

use super::view::{AppRow, BUCKET, Detail, Group, Listing, Overview, Query, SortKey, is_final};
use crate::cli::format::human_duration;

pub const STYLE: &str = include_str!("assets/dashboard.css");
pub const SCRIPT: &str = include_str!("assets/dashboard.js");

/// Text and attribute values: the five characters HTML gives meaning to.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment or query value: everything but unreserved characters percent-encoded.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A message for the top of a page, as text.
pub fn alert(message: &str) -> String {
    format!(r#"<p class="error" role="alert">{}</p>"#, escape(message))
}

pub fn query_string(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("?{}", joined.join("&"))
}

pub fn app_path(namespace: &str, name: &str) -> String {
    format!("/apps/{}/{}", encode(namespace), encode(name))
}

/// Where the page reads from, shown in its header.
#[derive(Debug, Clone)]
pub struct Context {
    pub cluster: String,
    pub context: String,
    /// The namespaces watched, or none for all.
    pub namespaces: Vec<String>,
    /// Whether application pages link to the Spark UI.
    pub spark_ui: bool,
}

/// "all namespaces", "namespace a" or "namespaces a, b" (not escaped).
pub fn scope_text(namespaces: &[String]) -> String {
    match namespaces {
        [] => "all namespaces".to_owned(),
        [one] => format!("namespace {one}"),
        many => format!("namespaces {}", many.join(", ")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Applications,
    Schedules,
    Sessions,
}

pub fn page(title: &str, tab: Tab, context: &Context, body: &str) -> String {
    let tabs = [
        (Tab::Overview, "/", "Overview"),
        (Tab::Applications, "/apps", "Applications"),
        (Tab::Schedules, "/schedules", "Schedules"),
        (Tab::Sessions, "/sessions", "Spark Connect"),
    ];
    let nav: String = tabs
        .iter()
        .map(|(t, href, label)| {
            let current = if *t == tab {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(r#"<a href="{href}"{current}>{label}</a>"#)
        })
        .collect();
    let scope = escape(&scope_text(&context.namespaces));
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Sparkplane</title><link rel="stylesheet" href="/assets/dashboard.css"></head>
<body><header><span class="brand">Sparkplane</span><nav>{nav}</nav>
<span class="where" title="{server}">{context} · {scope} <span id="live-state" class="live-off">live</span></span></header>
<main>{body}</main><script src="/assets/dashboard.js"></script></body></html>
"#,
        title = escape(title),
        server = escape(&context.cluster),
        context = escape(&context.context),
    )
}

fn ago(now: Timestamp, then: Option<Timestamp>) -> String {
    then.map(|t| human_duration(now.duration_since(t)))
        .unwrap_or_else(|| "-".to_owned())
}

fn duration(d: Option<SignedDuration>) -> String {
    d.map(human_duration).unwrap_or_else(|| "-".to_owned())
}

fn state_badge(row: &AppRow) -> String {
    let group = Group::of(row.state);
    let name = if row.state.as_str().is_empty() {
        "NEW"
    } else {
        row.state.as_str()
    };
    format!(r#"<span class="state {}">{name}</span>"#, group.name())
}

fn app_link(row: &AppRow) -> String {
    format!(
        r#"<a href="{}">{}</a>"#,
        escape(&app_path(&row.namespace, &row.name)),
        escape(&row.name)
    )
}

/// The list's table body and pager: what live updates replace.
pub fn list_rows(listing: &Listing<'_>, query: &Query, now: Timestamp) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<p class="count" data-matched="{}">{} application{} match{}</p>"#,
        listing.matched,
        listing.matched,
        if listing.matched == 1 { "" } else { "s" },
        if listing.matched == 1 { "es" } else { "" }
    );
    let header = |key: SortKey, label: &str| {
        let mut q = query.clone();
        q.page = 1;
        q.descending = q.sort == key && !q.descending;
        q.sort = key;
        let mark = match (query.sort == key, query.descending) {
            (true, false) => " ▲",
            (true, true) => " ▼",
            _ => "",
        };
        format!(
            r#"<th><a href="/apps{}">{label}{mark}</a></th>"#,
            escape(&query_string(&q.to_pairs()))
        )
    };
    let _ = write!(
        out,
        "<table class=\"apps\"><thead><tr>{}{}{}{}{}{}<th>driver</th><th>executors</th></tr></thead><tbody>",
        header(SortKey::Namespace, "namespace"),
        header(SortKey::Name, "name"),
        header(SortKey::State, "state"),
        header(SortKey::Attempts, "attempts"),
        header(SortKey::Age, "age"),
        header(SortKey::Duration, "duration"),
    );
    for row in &listing.rows {
        let message = if row.message.is_empty() {
            String::new()
        } else {
            format!(r#"<div class="message">{}</div>"#, escape(&row.message))
        };
        let _ = write!(
            out,
            r#"<tr data-name="{name}"><td>{ns}</td><td>{link}{message}</td><td>{state}</td><td class="num">{attempts}</td><td class="num">{age}</td><td class="num">{duration}</td><td>{driver}</td><td class="num">{running}/{total}</td></tr>"#,
            name = escape(&row.name),
            ns = escape(&row.namespace),
            link = app_link(row),
            state = state_badge(row),
            attempts = row.attempts,
            age = duration(row.age(now)),
            duration = duration(row.duration(now)),
            driver = escape(&row.driver),
            running = row.executors_running,
            total = row.executors_total,
        );
    }
    if listing.rows.is_empty() {
        out.push_str(r#"<tr><td colspan="8" class="empty">No applications match.</td></tr>"#);
    }
    out.push_str("</tbody></table>");
    if listing.pages > 1 {
        let link = |page: usize, label: &str| {
            let mut q = query.clone();
            q.page = page;
            format!(
                r#"<a href="/apps{}">{label}</a>"#,
                escape(&query_string(&q.to_pairs()))
            )
        };
        let _ = write!(
            out,
            r#"<nav class="pager">{} <span>page {} of {}</span> {}</nav>"#,
            if listing.page > 1 {
                link(listing.page - 1, "← newer page")
            } else {
                String::new()
            },
            listing.page,
            listing.pages,
            if listing.page < listing.pages {
                link(listing.page + 1, "next page →")
            } else {
                String::new()
            },
        );
    }
    out
}

/// The list page: the filter form, then the rows (live).
pub fn list_body(
    listing: &Listing<'_>,
    query: &Query,
    namespaces: &[String],
    now: Timestamp,
    error: Option<&str>,
) -> String {
    let options = |current: &str, values: &mut dyn Iterator<Item = String>| -> String {
        values
            .map(|v| {
                let selected = if v == current { " selected" } else { "" };
                format!(r#"<option value="{0}"{selected}>{0}</option>"#, escape(&v))
            })
            .collect()
    };
    let error = error.map(alert).unwrap_or_default();
    let live = format!("/apps{}", query_string(&query.to_pairs()));
    format!(
        r#"<h1>Applications</h1>
<form class="filters" method="get" action="/apps">
<label>namespace <select name="ns"><option value="">all</option>{ns}</select></label>
<label>state <select name="state"><option value="">all</option>{states}</select></label>
<label>label <input name="label" value="{label}" placeholder="team=a,!tmp"></label>
<label>name <input name="name" value="{name}" placeholder="part of a name"></label>
<input type="hidden" name="sort" value="{sort}">{desc}
<button type="submit">Filter</button> <a href="/apps">clear</a></form>
{error}<div id="live" data-live="{live}">{rows}</div>"#,
        ns = options(&query.namespace, &mut namespaces.iter().cloned()),
        states = options(
            &query.state,
            &mut Group::ALL.iter().map(|g| g.name().to_owned())
        ),
        label = escape(&query.label),
        name = escape(&query.name),
        sort = query.sort.name(),
        desc = if query.descending {
            r#"<input type="hidden" name="desc" value="1">"#
        } else {
            ""
        },
        live = escape(&live),
        rows = list_rows(listing, query, now),
    )
}

/// The last hour as bars: submissions beside completions and failures per five minutes.
fn hour_chart(overview: &Overview<'_>) -> String {
    let most = overview
        .hour
        .iter()
        .map(|b| b.submitted.max(b.completed + b.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, height, slot) = (480.0_f64, 120.0_f64, 40.0_f64);
    let scale = |n: usize| n as f64 / most as f64 * (height - 20.0);
    let mut bars = String::new();
    for (i, bucket) in overview.hour.iter().enumerate() {
        let x = i as f64 * slot + 4.0;
        let submitted = scale(bucket.submitted);
        let completed = scale(bucket.completed);
        let failed = scale(bucket.failed);
        let minutes_ago = (overview.hour.len() - 1 - i) as i64 * BUCKET.as_secs() / 60;
        let _ = write!(
            bars,
            r#"<g><title>{minutes_ago}-{} min ago: {} submitted, {} completed, {} failed</title><rect class="submitted" x="{x:.0}" y="{:.1}" width="14" height="{submitted:.1}"/><rect class="completed" x="{:.0}" y="{:.1}" width="14" height="{completed:.1}"/><rect class="failed" x="{:.0}" y="{:.1}" width="14" height="{failed:.1}"/></g>"#,
            minutes_ago + 5,
            bucket.submitted,
            bucket.completed,
            bucket.failed,
            height - submitted,
            x + 16.0,
            height - completed - failed,
            x + 16.0,
            height - failed,
        );
    }
    let total = |f: fn(&super::view::Bucket) -> usize| overview.hour.iter().map(f).sum::<usize>();
    format!(
        r#"<figure class="chart"><svg viewBox="0 0 {width} {height}" role="img" aria-label="submissions and completions over the last hour">{bars}</svg>
<figcaption>last hour, per 5 min: <span class="key submitted">submitted {}</span> <span class="key completed">completed {}</span> <span class="key failed">failed {}</span></figcaption></figure>"#,
        total(|b| b.submitted),
        total(|b| b.completed),
        total(|b| b.failed),
    )
}

fn short_list(rows: &[&AppRow], now: Timestamp, empty: &str, show_message: bool) -> String {
    if rows.is_empty() {
        return format!(r#"<p class="empty">{empty}</p>"#);
    }
    let items: String = rows
        .iter()
        .map(|r| {
            let detail = if show_message && !r.message.is_empty() {
                format!(r#" <span class="message">{}</span>"#, escape(&r.message))
            } else {
                format!(" {}", duration(r.duration(now)))
            };
            format!(
                "<li>{} <span class=\"ns\">{}</span>{detail}</li>",
                app_link(r),
                escape(&r.namespace)
            )
        })
        .collect();
    format!("<ol>{items}</ol>")
}

/// The overview's live part: counts, chart, slowest, failing.
pub fn overview_live(overview: &Overview<'_>, now: Timestamp) -> String {
    let mut counts = String::new();
    let _ = write!(
        counts,
        "<table class=\"counts\"><thead><tr><th>namespace</th>{}<th>all</th></tr></thead><tbody>",
        Group::ALL
            .iter()
            .map(|g| format!("<th>{}</th>", g.name()))
            .collect::<String>()
    );
    let cell = |ns: &str, group: Group, n: usize| {
        if n == 0 {
            r#"<td class="num zero">0</td>"#.to_owned()
        } else {
            let q = Query {
                namespace: ns.to_owned(),
                state: group.name().to_owned(),
                ..Query::default()
            };
            format!(
                r#"<td class="num"><a class="state {}" href="/apps{}">{n}</a></td>"#,
                group.name(),
                escape(&query_string(&q.to_pairs()))
            )
        }
    };
    for (ns, groups) in &overview.counts {
        let all: usize = groups.values().sum();
        let _ = write!(
            counts,
            "<tr><td>{}</td>{}<td class=\"num\">{all}</td></tr>",
            escape(ns),
            Group::ALL
                .iter()
                .map(|g| cell(ns, *g, groups.get(g).copied().unwrap_or(0)))
                .collect::<String>()
        );
    }
    let _ = write!(
        counts,
        "</tbody><tfoot><tr><td>all</td>{}<td class=\"num\">{}</td></tr></tfoot></table>",
        Group::ALL
            .iter()
            .map(|g| cell("", *g, overview.totals.get(g).copied().unwrap_or(0)))
            .collect::<String>(),
        overview.total
    );
    format!(
        r#"<section><h2>By state</h2>{counts}</section><section><h2>Activity</h2>{chart}</section>
<div class="columns"><section><h2>Running longest</h2>{slowest}</section><section><h2>Failed, latest first</h2>{failing}</section></div>"#,
        chart = hour_chart(overview),
        slowest = short_list(&overview.slowest, now, "Nothing is running.", false),
        failing = short_list(&overview.failing, now, "Nothing has failed.", true),
    )
}

pub fn overview_body(overview: &Overview<'_>, now: Timestamp) -> String {
    format!(
        r#"<h1>Overview</h1><div id="live" data-live="/">{}</div>"#,
        overview_live(overview, now)
    )
}

/// Driver and executor lifetimes on one time axis, from the application's creation to now (or
/// its end), with the events marked on it.
fn timeline(detail: &Detail, now: Timestamp) -> String {
    let start = detail
        .row
        .created
        .into_iter()
        .chain(detail.pods.iter().filter_map(|p| p.created))
        .chain(detail.events.iter().filter_map(|e| e.last))
        .min();
    let Some(start) = start else {
        return r#"<p class="empty">Nothing has happened yet.</p>"#.to_owned();
    };
    let end = if is_final(detail.row.state) {
        detail
            .row
            .terminated
            .into_iter()
            .chain(detail.pods.iter().filter_map(|p| p.finished))
            .chain(detail.events.iter().filter_map(|e| e.last))
            .max()
            .unwrap_or(now)
    } else {
        now
    };
    let span = end.duration_since(start).as_secs_f64().max(1.0);
    let (left, width, row_height) = (180.0_f64, 560.0_f64, 22.0_f64);
    let x = |t: Timestamp| {
        left + (t.duration_since(start).as_secs_f64() / span).clamp(0.0, 1.0) * width
    };
    let mut rows = String::new();
    let mut y = 4.0;
    for pod in &detail.pods {
        let from = pod.started.or(pod.created).unwrap_or(start);
        let to = pod.finished.unwrap_or(end);
        let class = match (pod.phase.as_str(), pod.exit_code) {
            ("Failed", _) => "failed",
            (_, Some(code)) if code != 0 => "failed",
            ("Succeeded", _) => "completed",
            ("Running", _) => "running",
            _ => "pending",
        };
        let _ = write!(
            rows,
            r#"<g><title>{name} ({role}): {phase}{exit}</title><text x="0" y="{ty:.0}">{label}</text><rect class="{class}" x="{x1:.1}" y="{y:.0}" width="{w:.1}" height="14"/></g>"#,
            name = escape(&pod.name),
            role = escape(&pod.role),
            phase = escape(&pod.phase),
            exit = pod
                .exit_code
                .map(|c| format!(", exit code {c}"))
                .unwrap_or_default(),
            ty = y + 11.0,
            label = escape(&truncate(&pod.name, 26)),
            x1 = x(from),
            w = (x(to) - x(from)).max(2.0),
        );
        y += row_height;
    }
    let marks: String = detail
        .events
        .iter()
        .filter_map(|e| {
            let at = x(e.last?);
            let class = if e.type_ == "Warning" { "warning" } else { "normal" };
            Some(format!(
                r#"<line class="{class}" x1="{at:.1}" x2="{at:.1}" y1="{:.0}" y2="{:.0}"><title>{}: {}</title></line>"#,
                y,
                y + 14.0,
                escape(&e.reason),
                escape(&e.message)
            ))
        })
        .collect();
    let _ = write!(
        rows,
        r#"<text x="0" y="{:.0}">events</text>{marks}"#,
        y + 11.0
    );
    y += row_height;
    format!(
        r#"<figure class="timeline"><svg viewBox="0 0 {total:.0} {y:.0}" role="img" aria-label="timeline">{rows}</svg><figcaption>{} to {} ({})</figcaption></figure>"#,
        crate::cli::format::timestamp(start),
        crate::cli::format::timestamp(end),
        human_duration(end.duration_since(start)),
        total = left + width + 4.0,
    )
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(max - 1).collect();
        format!("{kept}…")
    }
}

/// The detail page's live part: status, timeline, pods and events.
pub fn detail_live(detail: &Detail, now: Timestamp) -> String {
    let row = &detail.row;
    let mut status = vec![
        ("state", state_badge(row)),
        (
            "attempts",
            format!("{} run(s), {} submission(s)", row.attempts, row.submissions),
        ),
        ("age", duration(row.age(now))),
        ("duration", duration(row.duration(now))),
        ("driver", escape(&row.driver)),
        (
            "executors",
            format!(
                "{} running of {}",
                row.executors_running, row.executors_total
            ),
        ),
    ];
    if !row.message.is_empty() {
        status.push((
            "message",
            format!(r#"<span class="message">{}</span>"#, escape(&row.message)),
        ));
    }
    let status: String = status
        .into_iter()
        .map(|(k, v)| format!("<dt>{k}</dt><dd>{v}</dd>"))
        .collect();
    let problems: String = detail.problems.iter().map(|p| alert(p)).collect();
    let pods: String = detail
        .pods
        .iter()
        .map(|p| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&p.name),
                escape(&p.role),
                escape(&p.phase),
                ago(now, p.started.or(p.created)),
                match (p.started, p.finished) {
                    (Some(s), Some(f)) => human_duration(f.duration_since(s)),
                    (Some(s), None) => human_duration(now.duration_since(s)),
                    _ => "-".to_owned(),
                },
                p.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            )
        })
        .collect();
    let events: String = detail
        .events
        .iter()
        .rev()
        .map(|e| {
            format!(
                r#"<tr class="{}"><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td><td class="message">{}</td></tr>"#,
                if e.type_ == "Warning" { "warning" } else { "normal" },
                ago(now, e.last),
                escape(&e.type_),
                escape(&e.reason),
                escape(&e.object),
                escape(&if e.count > 1 {
                    format!("{} (x{})", e.message, e.count)
                } else {
                    e.message.clone()
                }),
            )
        })
        .collect();
    format!(
        r#"{problems}<section><h2>Status</h2><dl>{status}</dl></section>
<section><h2>Timeline</h2>{timeline}</section>
<section><h2>Pods</h2><table><thead><tr><th>pod</th><th>role</th><th>phase</th><th>started</th><th>ran</th><th>exit</th></tr></thead><tbody>{pods}</tbody></table></section>
<section><h2>Events</h2><table class="events"><thead><tr><th>seen</th><th>type</th><th>reason</th><th>object</th><th>message</th></tr></thead><tbody>{events}</tbody></table></section>"#,
        timeline = timeline(detail, now),
        pods = if pods.is_empty() {
            r#"<tr><td colspan="6" class="empty">No pods now.</td></tr>"#.to_owned()
        } else {
            pods
        },
        events = if events.is_empty() {
            r#"<tr><td colspan="5" class="empty">No events.</td></tr>"#.to_owned()
        } else {
            events
        },
    )
}

/// The application's page; `spark_ui`: with the link to its Spark UI.
pub fn detail_body(detail: &Detail, spark_ui: bool, now: Timestamp) -> String {
    let row = &detail.row;
    let path = app_path(&row.namespace, &row.name);
    let spec: String = detail
        .spec
        .iter()
        .map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)))
        .collect();
    let labels: String = row
        .labels
        .iter()
        .map(|(k, v)| format!(r#"<span class="label">{}={}</span> "#, escape(k), escape(v)))
        .collect();
    format!(
        r#"<h1>{name} <span class="ns">{ns}</span></h1><p class="labels">{labels}</p>
<p class="actions">{ui}<a href="/apps?ns={ns_q}">all in {ns}</a></p>
<div id="live" data-live="{path}" data-changes="{path}/live">{live}</div>
<section><h2>Spec</h2><dl>{spec}</dl></section>
<section><h2>Driver log</h2><p><label><input type="checkbox" id="follow" checked> follow</label></p>
<pre id="log" data-src="{path}/log" aria-live="polite"></pre></section>"#,
        name = escape(&row.name),
        ns = escape(&row.namespace),
        ns_q = escape(&encode(&row.namespace)),
        ui = if spark_ui {
            format!(
                r#"<a class="button" href="{}/ui" target="_blank" rel="noopener">Spark UI</a> "#,
                escape(&path)
            )
        } else {
            String::new()
        },
        path = escape(&path),
        live = detail_live(detail, now),
    )
}

/// A ScheduledSparkApplication or a Spark Connect session as the simple tables show it.
pub struct SimpleTable {
    pub headers: Vec<&'static str>,
    /// Each cell as text; the first cell of each row is the name.
    pub rows: Vec<Vec<String>>,
}

pub fn simple_table(table: &SimpleTable, empty: &str) -> String {
    let head: String = table
        .headers
        .iter()
        .map(|h| format!("<th>{h}</th>"))
        .collect();
    let rows: String = table
        .rows
        .iter()
        .map(|cells| {
            let cells: String = cells
                .iter()
                .map(|c| format!("<td>{}</td>", escape(c)))
                .collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    let rows = if rows.is_empty() {
        format!(
            r#"<tr><td colspan="{}" class="empty">{}</td></tr>"#,
            table.headers.len(),
            escape(empty)
        )
    } else {
        rows
    };
    format!("<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
}

/// A page of one simple table (rendered by [`simple_table`]), its table live.
pub fn simple_body(title: &str, table: &str, live: &str) -> String {
    format!(
        r#"<h1>{title}</h1><div id="live" data-live="{live}">{table}</div>"#,
        title = escape(title),
        live = escape(live),
    )
}

/// A page for what is not there (404) or cannot be read.
pub fn message_body(title: &str, message: &str) -> String {
    format!(
        r#"<h1>{}</h1>{}<p><a href="/apps">All applications</a></p>"#,
        escape(title),
        alert(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::dashboard::view::{self, EventItem, PodLine, select};
    use sparkplane_api::v1beta2::ApplicationStateType;

    const HOSTILE: &str = r#"<script>alert("x")</script><img src=x onerror=alert(1)>' & "#;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("valid")
    }

    fn hostile_row() -> AppRow {
        AppRow {
            namespace: "ns".into(),
            name: format!("app{HOSTILE}"),
            state: ApplicationStateType::Failed,
            message: HOSTILE.into(),
            attempts: 2,
            submissions: 2,
            created: Some(at(0)),
            submitted: Some(at(1)),
            terminated: Some(at(61)),
            driver: HOSTILE.into(),
            executors_running: 0,
            executors_total: 3,
            labels: [(format!("k{HOSTILE}"), HOSTILE.to_owned())].into(),
        }
    }

    /// No markup from the cluster survives: every `<` in the output is one the page wrote.
    fn assert_inert(html: &str) {
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("onerror=alert(1)>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(encode("a b/c?d=é"), "a%20b%2Fc%3Fd%3D%C3%A9");
        assert_eq!(
            query_string(&[("ns", "a&b".into()), ("label", "k=v".into())]),
            "?ns=a%26b&label=k%3Dv"
        );
        assert_eq!(query_string(&[]), "");
        assert_eq!(app_path("spark", "pi-1"), "/apps/spark/pi-1");
    }

    #[test]
    fn hostile_content_is_shown_as_text_on_every_page() {
        let rows = vec![hostile_row()];
        let now = at(100);
        let query = Query::default();
        let listing = select(&rows, &query, now);
        let list = list_body(
            &listing,
            &query,
            &[format!("ns{HOSTILE}")],
            now,
            Some(HOSTILE),
        );
        assert_inert(&list);
        assert_inert(&overview_body(&view::overview(&rows, now), now));
        let detail = Detail {
            row: hostile_row(),
            spec: vec![(HOSTILE.into(), HOSTILE.into())],
            pods: vec![PodLine {
                name: HOSTILE.into(),
                role: "driver".into(),
                phase: "Failed".into(),
                created: Some(at(1)),
                started: Some(at(2)),
                finished: Some(at(60)),
                exit_code: Some(1),
            }],
            events: vec![EventItem {
                last: Some(at(30)),
                count: 2,
                type_: "Warning".into(),
                reason: HOSTILE.into(),
                object: HOSTILE.into(),
                message: HOSTILE.into(),
            }],
            problems: vec![HOSTILE.into()],
        };
        assert_inert(&detail_body(&detail, true, now));
        assert!(!detail_body(&detail, false, now).contains("Spark UI"));
        let table = SimpleTable {
            headers: vec!["name"],
            rows: vec![vec![HOSTILE.into()]],
        };
        assert_inert(&simple_body(HOSTILE, &simple_table(&table, HOSTILE), "/x"));
        assert_inert(&message_body(HOSTILE, HOSTILE));
        let context = Context {
            cluster: HOSTILE.into(),
            context: HOSTILE.into(),
            namespaces: vec![HOSTILE.into(), HOSTILE.into()],
            spark_ui: true,
        };
        let page = page(HOSTILE, Tab::Applications, &context, "");
        assert!(!page.contains("<script>alert"));
        assert_eq!(
            page.matches("<script").count(),
            1,
            "only the page's own script"
        );
    }

    #[test]
    fn the_list_links_sorting_and_pages_with_the_filters_kept() {
        let rows: Vec<AppRow> = (0..60)
            .map(|i| {
                let mut r = hostile_row();
                r.name = format!("app-{i:02}");
                r.created = Some(at(i));
                r
            })
            .collect();
        let query = Query::parse(
            &[
                ("ns".to_owned(), "ns".to_owned()),
                ("label".to_owned(), "k=v".to_owned()),
            ]
            .into(),
        )
        .expect("valid");
        let now = at(100);
        let html = list_rows(&select(&rows, &query, now), &query, now);
        assert!(
            html.contains(r#"data-matched="0""#),
            "the label filter holds"
        );
        let query = Query::parse(&[("ns".to_owned(), "ns".to_owned())].into()).expect("valid");
        let html = list_rows(&select(&rows, &query, now), &query, now);
        assert!(html.contains(r#"data-matched="60""#));
        assert!(html.contains("page 1 of 2"));
        assert!(html.contains(r#"href="/apps?ns=ns&amp;page=2""#), "{html}");
        // Sorting by name keeps the namespace filter; the current sort is marked.
        assert!(
            html.contains(r#"href="/apps?ns=ns&amp;sort=name""#),
            "{html}"
        );
        assert!(html.contains("age ▲"));
        assert!(
            html.contains(r#"href="/apps?ns=ns&amp;desc=1">age"#),
            "{html}"
        );
        assert!(html.contains(r#"href="/apps/ns/app-59""#));
    }

    #[test]
    fn the_chart_scales_to_the_busiest_bucket() {
        let mut rows = Vec::new();
        for i in 0..4 {
            let mut r = hostile_row();
            r.state = ApplicationStateType::Completed;
            r.submitted = Some(at(3600 - 10 - i));
            r.terminated = Some(at(3600 - 5));
            rows.push(r);
        }
        let html = overview_live(&view::overview(&rows, at(3600)), at(3600));
        assert!(html.contains("submitted 4"));
        assert!(html.contains("completed 4"));
        // The busiest bucket's bars are full height (100 of 120).
        assert!(html.contains(r#"height="100.0""#), "{html}");
        assert!(html.contains(r#"href="/apps?ns=ns&amp;state=completed""#));
    }

    #[test]
    fn the_timeline_places_pods_and_events_on_one_axis() {
        let mut row = hostile_row();
        row.name = "pi".into();
        row.created = Some(at(0));
        row.terminated = Some(at(100));
        let detail = Detail {
            row,
            spec: vec![],
            pods: vec![PodLine {
                name: "pi-driver".into(),
                role: "driver".into(),
                phase: "Succeeded".into(),
                created: Some(at(0)),
                started: Some(at(50)),
                finished: Some(at(100)),
                exit_code: Some(0),
            }],
            events: vec![],
            problems: vec![],
        };
        let html = timeline(&detail, at(500));
        // Started half-way through the application's life: the bar starts half-way and fills the rest.
        assert!(html.contains(r#"x="460.0""#), "{html}");
        assert!(html.contains(r#"width="280.0""#), "{html}");
        assert!(html.contains("(100s)"), "{html}");
    }
}
