//! The standard Prometheus process metrics (`process_*`), read from procfs at each scrape.
//!
//! Each source file is read on its own: one that cannot be read or parsed leaves out the metrics
//! it gives and nothing else, so a missing /proc never breaks the scrape.

use std::path::PathBuf;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use thiserror::Error;

/// Clock ticks per second in /proc/<pid>/stat times: USER_HZ, fixed by the procfs ABI.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Error)]
pub enum ProcError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no {0} in the text")]
    Missing(&'static str),
    #[error("{field} is not a number: {value:?}")]
    NotANumber { field: &'static str, value: String },
}

/// What the metrics need from /proc/self/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStat {
    pub user_ticks: u64,
    pub system_ticks: u64,
    pub threads: u64,
    /// Ticks from boot to the process' start.
    pub start_ticks: u64,
}

impl ProcessStat {
    pub fn cpu_seconds(&self) -> f64 {
        (self.user_ticks + self.system_ticks) as f64 / TICKS_PER_SECOND
    }

    /// Seconds since the Unix epoch, given the boot time from /proc/stat.
    pub fn start_time_seconds(&self, boot_time: u64) -> f64 {
        boot_time as f64 + self.start_ticks as f64 / TICKS_PER_SECOND
    }
}

fn number(field: &'static str, value: Option<&str>) -> Result<u64, ProcError> {
    let value = value.ok_or(ProcError::Missing(field))?;
    value.parse().map_err(|_| ProcError::NotANumber {
        field,
        value: value.to_owned(),
    })
}

/// Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Result<ProcessStat, ProcError> {
    let (_, after_command) = text
        .rsplit_once(')')
        .ok_or(ProcError::Missing("command name"))?;
    // Field 3 (state) is the first after the command name; proc(5) numbers fields from 1.
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    let field = |number_in_proc5: usize| fields.get(number_in_proc5 - 3).copied();
    Ok(ProcessStat {
        user_ticks: number("utime", field(14))?,
        system_ticks: number("stime", field(15))?,
        threads: number("num_threads", field(20))?,
        start_ticks: number("starttime", field(22))?,
    })
}

/// A `Key: <n> kB` line of /proc/<pid>/status, in bytes.
pub fn parse_status_bytes(text: &str, key: &'static str) -> Result<u64, ProcError> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .ok_or(ProcError::Missing(key))?;
    let kilobytes = value.trim().strip_suffix("kB").map(str::trim_end);
    Ok(number(key, kilobytes)? * 1024)
}

/// The boot time (`btime`, seconds since the epoch) from /proc/stat.
pub fn parse_boot_time(text: &str) -> Result<u64, ProcError> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .ok_or(ProcError::Missing("btime"))?;
    number("btime", Some(value.trim()))
}

/// The soft limit on open files from /proc/<pid>/limits; `unlimited` is +Inf.
pub fn parse_max_open_files(text: &str) -> Result<f64, ProcError> {
    const FIELD: &str = "Max open files";
    let soft = text
        .lines()
        .find_map(|line| line.strip_prefix(FIELD)?.split_whitespace().next())
        .ok_or(ProcError::Missing(FIELD))?;
    if soft == "unlimited" {
        return Ok(f64::INFINITY);
    }
    Ok(number(FIELD, Some(soft))? as f64)
}

/// Reads the process metrics of the calling process from a procfs mounted at `root`.
#[derive(Debug)]
pub struct ProcessCollector {
    root: PathBuf,
}

impl ProcessCollector {
    pub fn new() -> Self {
        Self::at("/proc")
    }

    /// A collector reading a procfs at `root` (tests use a copy with known contents).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        ProcessCollector { root: root.into() }
    }

    fn read(&self, relative: &str) -> Result<String, ProcError> {
        let path = self.root.join(relative);
        std::fs::read_to_string(&path).map_err(|source| ProcError::Read { path, source })
    }

    fn open_fds(&self) -> Result<u64, ProcError> {
        let path = self.root.join("self/fd");
        let entries =
            std::fs::read_dir(&path).map_err(|source| ProcError::Read { path, source })?;
        Ok(entries.count() as u64)
    }

    fn stat(&self) -> Result<ProcessStat, ProcError> {
        parse_stat(&self.read("self/stat")?)
    }
}

impl Default for ProcessCollector {
    fn default() -> Self {
        Self::new()
    }
}

/// Leaves a metric out when its source failed; the reason goes to the debug log, since a
/// process without /proc fails the same way at every scrape.
fn available<T>(metric: &str, value: Result<T, ProcError>) -> Option<T> {
    value
        .inspect_err(|error| tracing::debug!(metric, %error, "process metric left out"))
        .ok()
}

fn encode_gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<impl EncodeGaugeValue>,
) -> Result<(), std::fmt::Error> {
    let Some(value) = value else {
        return Ok(());
    };
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stat = available("process_stat", self.stat());
        if let Some(stat) = stat {
            let counter = ConstCounter::new(stat.cpu_seconds());
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                counter.metric_type(),
            )?)?;
        }
        let status = available("process_status", self.read("self/status"));
        let status = status.as_deref();
        let status_bytes =
            |key| status.and_then(|text| available(key, parse_status_bytes(text, key)));
        encode_gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            status_bytes("VmRSS"),
        )?;
        encode_gauge(
            &mut encoder,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            status_bytes("VmSize"),
        )?;
        let boot_time = available(
            "process_start_time_seconds",
            self.read("stat").and_then(|text| parse_boot_time(&text)),
        );
        encode_gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            stat.zip(boot_time)
                .map(|(stat, boot)| stat.start_time_seconds(boot)),
        )?;
        encode_gauge(
            &mut encoder,
            "process_open_fds",
            "Number of open file descriptors",
            available("process_open_fds", self.open_fds()),
        )?;
        encode_gauge(
            &mut encoder,
            "process_max_fds",
            "Maximum number of open file descriptors (the soft limit)",
            available(
                "process_max_fds",
                self.read("self/limits")
                    .and_then(|text| parse_max_open_files(&text)),
            ),
        )?;
        encode_gauge(
            &mut encoder,
            "process_threads",
            "Number of OS threads in the process",
            stat.map(|stat| stat.threads),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    /// A process named `a) (b c)` (comm may hold both), utime 250, stime 150, 7 threads,
    /// started 123456 ticks after boot.
    const STAT: &str = "4242 (a) (b c)) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 150 0 0 20 0 \
                        7 0 123456 104857600 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 \
                        17 1 0 0 0 0 0\n";
    const STATUS: &str = "Name:\tsparkplane\nUmask:\t0022\nState:\tS (sleeping)\n\
                          VmPeak:\t  210000 kB\nVmSize:\t  204800 kB\nVmHWM:\t   30000 kB\n\
                          VmRSS:\t   20480 kB\nThreads:\t7\n";
    const PROC_STAT: &str = "cpu  1 2 3 4 5 6 7 0 0 0\nintr 1 2\nctxt 99\nbtime 1700000000\n\
                             processes 10\n";
    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
                          Max cpu time              unlimited            unlimited            seconds   \n\
                          Max open files            1024                 1048576              files     \n\
                          Max processes             63304                63304                processes \n";

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() -> Result<(), ProcError> {
        let stat = parse_stat(STAT)?;
        assert_eq!(
            stat,
            ProcessStat {
                user_ticks: 250,
                system_ticks: 150,
                threads: 7,
                start_ticks: 123456,
            }
        );
        assert_eq!(stat.cpu_seconds(), 4.0);
        assert_eq!(stat.start_time_seconds(1_700_000_000), 1_700_001_234.56);
        Ok(())
    }

    #[test]
    fn truncated_or_garbled_stat_is_an_error() {
        assert!(matches!(
            parse_stat("4242 (x) S 1 2 3"),
            Err(ProcError::Missing("utime"))
        ));
        assert!(matches!(
            parse_stat("4242 no parenthesis"),
            Err(ProcError::Missing("command name"))
        ));
        let garbled = STAT.replace(" 250 150 ", " 250 x ");
        assert!(matches!(
            parse_stat(&garbled),
            Err(ProcError::NotANumber { field: "stime", .. })
        ));
    }

    #[test]
    fn status_sizes_are_kilobytes() -> Result<(), ProcError> {
        assert_eq!(parse_status_bytes(STATUS, "VmRSS")?, 20480 * 1024);
        assert_eq!(parse_status_bytes(STATUS, "VmSize")?, 204800 * 1024);
        // A kernel thread has no VmRSS line at all.
        assert!(matches!(
            parse_status_bytes("Name:\tkthreadd\n", "VmRSS"),
            Err(ProcError::Missing("VmRSS"))
        ));
        Ok(())
    }

    #[test]
    fn boot_time_and_open_files_limit() -> Result<(), ProcError> {
        assert_eq!(parse_boot_time(PROC_STAT)?, 1_700_000_000);
        assert_eq!(parse_max_open_files(LIMITS)?, 1024.0);
        let unlimited = LIMITS.replace("1024 ", "unlimited ");
        assert_eq!(parse_max_open_files(&unlimited)?, f64::INFINITY);
        assert!(parse_max_open_files("Limit Soft Hard Units\n").is_err());
        Ok(())
    }

    fn exposition(collector: ProcessCollector) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }

    /// A procfs copy under the temporary directory holding the sample texts.
    fn fake_proc(name: &str) -> std::io::Result<PathBuf> {
        let root = std::env::temp_dir().join(format!("sparkplane-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("self/fd"))?;
        for fd in ["0", "1", "2"] {
            std::fs::write(root.join("self/fd").join(fd), "")?;
        }
        std::fs::write(root.join("self/stat"), STAT)?;
        std::fs::write(root.join("self/status"), STATUS)?;
        std::fs::write(root.join("self/limits"), LIMITS)?;
        std::fs::write(root.join("stat"), PROC_STAT)?;
        Ok(root)
    }

    #[test]
    fn collector_encodes_each_metric_from_its_file() -> anyhow::Result<()> {
        let root = fake_proc("process-metrics")?;
        let text = exposition(ProcessCollector::at(&root))?;
        let _ = std::fs::remove_dir_all(&root);
        for line in [
            "# TYPE process_cpu_seconds counter",
            "process_cpu_seconds_total 4.0",
            "process_resident_memory_bytes 20971520",
            "process_virtual_memory_bytes 209715200",
            "process_start_time_seconds 1700001234.56",
            "process_open_fds 3",
            "process_max_fds 1024.0",
            "process_threads 7",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_missing_file_leaves_out_only_its_metrics() -> anyhow::Result<()> {
        let root = fake_proc("process-metrics-partial")?;
        std::fs::remove_file(root.join("stat"))?;
        std::fs::write(root.join("self/status"), "Name:\tx\n")?;
        let text = exposition(ProcessCollector::at(&root))?;
        let _ = std::fs::remove_dir_all(&root);
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
            .collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds",
                "process_open_fds",
                "process_max_fds",
                "process_threads"
            ]
        );
        Ok(())
    }

    #[test]
    fn without_procfs_the_exposition_is_still_whole() -> anyhow::Result<()> {
        let text = exposition(ProcessCollector::at("/nonexistent-procfs"))?;
        assert_eq!(text, "# EOF\n");
        Ok(())
    }
}
