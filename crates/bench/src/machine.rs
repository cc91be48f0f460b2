//! The machine and the versions a run measured on, for the results file.

use std::path::Path;
use std::process::Command;

use sparkplane_bench::procfs::{self, read_to_string_or_empty};
use sparkplane_bench::results::{Machine, Versions};

pub fn machine() -> Machine {
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model: procfs::parse_cpu_model(&read_to_string_or_empty("/proc/cpuinfo"))
            .unwrap_or_else(|| "unknown".into()),
        memory_kib: procfs::parse_kib(&read_to_string_or_empty("/proc/meminfo"), "MemTotal")
            .unwrap_or(0),
        kernel: read_to_string_or_empty("/proc/sys/kernel/osrelease")
            .trim()
            .to_owned(),
        load_average_start: load_average(),
        load_average_end: Vec::new(),
    }
}

pub fn load_average() -> Vec<f64> {
    procfs::parse_load_average(&read_to_string_or_empty("/proc/loadavg"))
}

fn first_line_of(program: &str, args: &[&str], dir: &Path) -> String {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn pinned(repo: &Path, module_dir: &str, module: &str) -> String {
    let go_mod =
        read_to_string_or_empty(repo.join("testbed/modules").join(module_dir).join("go.mod"));
    sparkplane_bench::versions::module_version(&go_mod, module).unwrap_or_else(|| "unknown".into())
}

/// The checkout measured: `git describe --always --dirty`.
pub fn git_describe(repo: &Path) -> String {
    first_line_of("git", &["describe", "--always", "--dirty"], repo)
}

pub fn versions(repo: &Path, kube_apiserver: String, kubeflow: Option<String>) -> Versions {
    Versions {
        git: git_describe(repo),
        rustc: first_line_of("rustc", &["--version"], repo),
        kube_apiserver,
        kubernetes_module: pinned(repo, "kubernetes", "k8s.io/kubernetes"),
        etcd: pinned(repo, "etcd", "go.etcd.io/etcd/server/v3"),
        kwok: pinned(repo, "kwok", "sigs.k8s.io/kwok"),
        kubeflow_operator: kubeflow,
    }
}
