//! Versions, addresses and metrics read from text other programs print or ship: pure parsers.

/// The version a wrapper module's go.mod pins for `module` (`\tgo.etcd.io/etcd/server/v3 v3.6.16`).
pub fn module_version(go_mod: &str, module: &str) -> Option<String> {
    go_mod.lines().find_map(|line| {
        let line = line.trim_start();
        let line = line.strip_prefix("require ").unwrap_or(line);
        let mut words = line.split_whitespace();
        (words.next()? == module).then(|| words.next().map(str::to_owned))?
    })
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// `v2.5.2 (commit 43afb8bb, go1.26.8)` from the Kubeflow operator's `version` output.
pub fn kubeflow_version(output: &str) -> Option<String> {
    let version = field(output, "Git Version")?;
    let commit = field(output, "Git Commit").unwrap_or("unknown");
    let go = field(output, "Go Version").unwrap_or("unknown Go");
    Some(format!(
        "{version} (commit {}, {go})",
        commit.get(..8).unwrap_or(commit)
    ))
}

/// `__version__: str = '4.0.5'` (pyspark's version.py) -> `4.0.5`.
pub fn pyspark_version(version_py: &str) -> Option<String> {
    version_py.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("__version__")?;
        let quoted = rest.split_once('=')?.1.trim();
        Some(quoted.trim_matches(['\'', '"']).to_owned()).filter(|v| !v.is_empty())
    })
}

/// `JAVA_VERSION="17.0.15"` (a JDK's `release` file) -> `17.0.15`.
pub fn java_version(release: &str) -> Option<String> {
    release.lines().find_map(|line| {
        Some(
            line.strip_prefix("JAVA_VERSION=")?
                .trim_matches('"')
                .to_owned(),
        )
    })
}

/// The host and port of an `https://host:port` API server address.
pub fn host_and_port(server: &str) -> Option<(String, u16)> {
    let authority = server.strip_prefix("https://")?.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    Some((host.trim_matches(['[', ']']).to_owned(), port.parse().ok()?))
}

/// The sum of every sample of `metric` (Prometheus text format) whose labels include all of
/// `labels`; `None` when there is no such sample.
pub fn metric_sum(text: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, label_text) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let has_all = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        if name == metric
            && has_all
            && let Ok(value) = value.parse::<f64>()
        {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

/// Every series of `metric` with its label values for `keys` (in that order), and its value.
pub fn metric_series(text: &str, metric: &str, keys: &[&str]) -> Vec<(Vec<String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, label_text)) = series.split_once('{') else {
            continue;
        };
        let (Ok(value), true) = (value.parse::<f64>(), name == metric) else {
            continue;
        };
        let label_text = label_text.trim_end_matches('}');
        let labels: Option<Vec<String>> = keys
            .iter()
            .map(|key| {
                label_text.split(',').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    (k == *key).then(|| v.trim_matches('"').to_owned())
                })
            })
            .collect();
        if let Some(labels) = labels {
            out.push((labels, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_versions_are_read_from_require_lines() {
        let go_mod = "module sparkplane.io/testbed/etcd\n\ngo 1.26\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 v3.6.16 // indirect\n)\nrequire sigs.k8s.io/kwok v0.8.0\n";
        assert_eq!(
            module_version(go_mod, "go.etcd.io/etcd/server/v3"),
            Some("v3.6.16".to_owned())
        );
        assert_eq!(
            module_version(go_mod, "sigs.k8s.io/kwok"),
            Some("v0.8.0".to_owned())
        );
        assert_eq!(module_version(go_mod, "k8s.io/kubernetes"), None);
    }

    #[test]
    fn the_kubeflow_version_names_its_tag_commit_and_go() {
        let output = "Git Version: v2.5.2\nGit Commit: 43afb8bbd32463037d8fb6e414e252c69081882b\nGit Tree State: clean\nGo Version: go1.26.8\n";
        assert_eq!(
            kubeflow_version(output),
            Some("v2.5.2 (commit 43afb8bb, go1.26.8)".to_owned())
        );
        assert_eq!(kubeflow_version("usage: spark-operator"), None);
    }

    #[test]
    fn spark_and_java_versions_come_from_their_files() {
        assert_eq!(
            pyspark_version("# license\n__version__: str = '4.0.5'\n"),
            Some("4.0.5".to_owned())
        );
        assert_eq!(
            pyspark_version("__version__ = \"3.5.9\""),
            Some("3.5.9".to_owned())
        );
        assert_eq!(
            java_version("IMPLEMENTOR=\"x\"\nJAVA_VERSION=\"17.0.15\"\n"),
            Some("17.0.15".to_owned())
        );
    }

    #[test]
    fn metric_samples_are_summed_over_the_labels_not_asked_for() {
        let text = "# HELP x\ncontroller_runtime_reconcile_total{controller=\"sparkapplication\",result=\"error\"} 2\ncontroller_runtime_reconcile_total{controller=\"sparkapplication\",result=\"success\"} 18\ncontroller_runtime_reconcile_total{controller=\"sparkconnect\",result=\"success\"} 5\nworkqueue_depth 3\n";
        let app = [("controller", "sparkapplication")];
        assert_eq!(
            metric_sum(text, "controller_runtime_reconcile_total", &app),
            Some(20.0)
        );
        assert_eq!(metric_sum(text, "workqueue_depth", &[]), Some(3.0));
        assert_eq!(metric_sum(text, "workqueue_depth", &app), None);
        assert_eq!(metric_sum(text, "missing_total", &[]), None);
    }

    #[test]
    fn the_api_servers_host_and_port_are_split() {
        assert_eq!(
            host_and_port("https://127.0.0.1:16443"),
            Some(("127.0.0.1".to_owned(), 16443))
        );
        assert_eq!(
            host_and_port("https://[::1]:6443/"),
            Some(("::1".to_owned(), 6443))
        );
        assert_eq!(host_and_port("http://127.0.0.1:8080"), None);
        assert_eq!(host_and_port("https://example"), None);
    }
}
