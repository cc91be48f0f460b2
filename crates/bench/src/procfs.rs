//! What /proc says about a process (CPU time, resident memory, children) and about the machine.
//! The parsers are pure; the readers are one file read each.

use std::collections::HashMap;
use std::path::Path;

/// CPU time of a process in clock ticks, its own and that of the children it has waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTicks {
    pub parent_pid: u32,
    pub user: u64,
    pub system: u64,
    pub children_user: u64,
    pub children_system: u64,
}

impl CpuTicks {
    pub fn own(&self) -> u64 {
        self.user + self.system
    }

    /// Own time plus that of every child already waited for (a finished spark-submit, say).
    pub fn with_waited_children(&self) -> u64 {
        self.own() + self.children_user + self.children_system
    }
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from its closing parenthesis.
pub fn parse_stat(text: &str) -> Option<CpuTicks> {
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(CpuTicks {
        parent_pid: u32::try_from(field(4)?).ok()?,
        user: field(14)?,
        system: field(15)?,
        children_user: field(16)?,
        children_system: field(17)?,
    })
}

/// A `Key:   1234 kB` line of /proc/<pid>/status or /proc/meminfo, in KiB.
pub fn parse_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// The first `model name` of /proc/cpuinfo.
pub fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// The three load averages of /proc/loadavg.
pub fn parse_load_average(text: &str) -> Vec<f64> {
    text.split_whitespace()
        .take(3)
        .filter_map(|f| f.parse().ok())
        .collect()
}

/// `pid` and every process descending from it, given each process's parent.
pub fn descendants(pid: u32, parents: &HashMap<u32, u32>) -> Vec<u32> {
    let mut tree = vec![pid];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        let mut children: Vec<u32> = parents
            .iter()
            .filter(|(child, p)| **p == parent && **child != parent)
            .map(|(child, _)| *child)
            .collect();
        children.sort_unstable();
        tree.extend(children);
        next += 1;
    }
    tree
}

pub fn read_stat(pid: u32) -> Option<CpuTicks> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// VmRSS and VmHWM of a process, KiB.
pub fn read_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((parse_kib(&status, "VmRSS")?, parse_kib(&status, "VmHWM")?))
}

/// Every live process's parent.
pub fn parents() -> HashMap<u32, u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((pid, read_stat(pid)?.parent_pid))
        })
        .collect()
}

/// CPU ticks of the process tree under `pid`: every live member's own time plus what each has
/// collected from children it waited for (no tick is counted twice: a waited child is gone).
pub fn tree_ticks(pid: u32, include_children: bool) -> Option<u64> {
    if !include_children {
        return read_stat(pid).map(|t| t.own());
    }
    let root = read_stat(pid)?;
    let parents = parents();
    let rest: u64 = descendants(pid, &parents)
        .into_iter()
        .skip(1)
        .filter_map(read_stat)
        .map(|t| t.with_waited_children())
        .sum();
    Some(root.with_waited_children() + rest)
}

/// Summed VmRSS (KiB) of `pid` and, if asked, its descendants.
pub fn tree_rss(pid: u32, include_children: bool) -> Option<u64> {
    let (root, _) = read_memory(pid)?;
    if !include_children {
        return Some(root);
    }
    let parents = parents();
    let rest: u64 = descendants(pid, &parents)
        .into_iter()
        .skip(1)
        .filter_map(|p| read_memory(p).map(|(rss, _)| rss))
        .sum();
    Some(root + rest)
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 on every Linux this runs on when that fails.
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

pub fn read_to_string_or_empty(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let text =
            "4242 (tokio (rt) x) S 17 4242 4242 0 -1 4194560 1 2 3 4 120 35 7 9 20 0 12 0 100 0 0";
        assert_eq!(
            parse_stat(text),
            Some(CpuTicks {
                parent_pid: 17,
                user: 120,
                system: 35,
                children_user: 7,
                children_system: 9
            })
        );
        let ticks = parse_stat(text).unwrap();
        assert_eq!((ticks.own(), ticks.with_waited_children()), (155, 171));
        assert_eq!(parse_stat("12 (short) S 1 2"), None);
    }

    #[test]
    fn kib_lines_are_found_by_their_exact_key() {
        let status =
            "Name:\tsparkplane\nVmHWM:\t   53120 kB\nVmRSS:\t   41000 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_kib(status, "VmRSS"), Some(41000));
        assert_eq!(parse_kib(status, "VmHWM"), Some(53120));
        assert_eq!(parse_kib(status, "Rss"), None);
        assert_eq!(
            parse_kib("MemTotal:       24576000 kB\n", "MemTotal"),
            Some(24576000)
        );
    }

    #[test]
    fn machine_facts_come_from_their_files() {
        assert_eq!(
            parse_cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n"),
            Some("AMD EPYC 7B13".to_owned())
        );
        assert_eq!(
            parse_load_average("0.52 1.10 2.33 3/812 9999\n"),
            vec![0.52, 1.10, 2.33]
        );
    }

    #[test]
    fn descendants_are_the_whole_subtree_and_nothing_else() {
        let parents: HashMap<u32, u32> =
            [(10, 1), (11, 10), (12, 11), (13, 10), (20, 1), (21, 20)].into();
        assert_eq!(descendants(10, &parents), vec![10, 11, 13, 12]);
        assert_eq!(descendants(99, &parents), vec![99]);
    }
}
