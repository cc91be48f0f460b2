//! An operator process under measurement: started with its log in a file, probed for readiness,
//! its CPU time and memory read from /proc (with its children's, when asked), and stopped with
//! SIGTERM; it is killed if the harness lets go of it any other way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sparkplane_bench::procfs;
use tokio::process::{Child, Command};

/// How often the sampler reads the process tree's resident memory.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

pub struct Process {
    child: Child,
    pub pid: u32,
    /// CPU time and memory count the descendants too (spark-submit and its JVM under Kubeflow).
    include_children: bool,
    pub log: PathBuf,
    ticks_per_second: f64,
    /// Peak of the sampled tree RSS since the last [`Process::take_tree_peak`], and over the life.
    window_peak: Arc<AtomicU64>,
    life_peak: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

pub struct Launch<'a> {
    pub program: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    pub include_children: bool,
}

impl Process {
    pub fn spawn(launch: Launch<'_>) -> anyhow::Result<Process> {
        let out = std::fs::File::create(&launch.log)
            .with_context(|| format!("creating {}", launch.log.display()))?;
        let child = Command::new(launch.program)
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // A process group of its own: stopping it reaches its children (spark-submit JVMs).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", launch.program.display()))?;
        let pid = child.id().context("the process exited at once")?;
        let window_peak = Arc::new(AtomicU64::new(0));
        let life_peak = Arc::new(AtomicU64::new(0));
        let sampler = {
            let (window_peak, life_peak) = (window_peak.clone(), life_peak.clone());
            let include_children = launch.include_children;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                loop {
                    tick.tick().await;
                    let Some(rss) = tokio::task::spawn_blocking(move || {
                        procfs::tree_rss(pid, include_children)
                    })
                    .await
                    .ok()
                    .flatten() else {
                        continue;
                    };
                    window_peak.fetch_max(rss, Ordering::Relaxed);
                    life_peak.fetch_max(rss, Ordering::Relaxed);
                }
            })
        };
        Ok(Process {
            child,
            pid,
            include_children: launch.include_children,
            log: launch.log,
            ticks_per_second: procfs::ticks_per_second() as f64,
            window_peak,
            life_peak,
            sampler,
        })
    }

    /// CPU seconds used so far (user + system; the tree's when children count).
    pub fn cpu_seconds(&self) -> Option<f64> {
        procfs::tree_ticks(self.pid, self.include_children)
            .map(|t| t as f64 / self.ticks_per_second)
    }

    /// (VmRSS, VmHWM) of the main process, KiB.
    pub fn memory(&self) -> Option<(u64, u64)> {
        procfs::read_memory(self.pid)
    }

    /// The sampled peak of the tree's RSS since the last call, then starts a new window.
    pub fn take_tree_peak(&self) -> Option<u64> {
        Some(self.window_peak.swap(0, Ordering::Relaxed)).filter(|p| *p > 0)
    }

    pub fn life_tree_peak(&self) -> Option<u64> {
        Some(self.life_peak.load(Ordering::Relaxed)).filter(|p| *p > 0)
    }

    fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the operator exited ({status}); its log {}:\n{}",
                self.log.display(),
                self.log_tail()
            );
        }
        Ok(())
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until `GET http://127.0.0.1:<port><path>` answers 200.
    pub async fn wait_ready(
        &mut self,
        port: u16,
        path: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            if http_ok(port, path).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "not ready after {timeout:?} (GET :{port}{path}); its log {}:\n{}",
                    self.log.display(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the process (tree) has used under 2 % of a core for 3 s in a row: it has caught
    /// up with what it holds. Returns whether it got there within `timeout`.
    pub async fn wait_idle(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let window = Duration::from_secs(3);
        let deadline = Instant::now() + timeout;
        let mut last = self
            .cpu_seconds()
            .context("the operator has no /proc entry")?;
        while Instant::now() < deadline {
            tokio::time::sleep(window).await;
            self.check_running()?;
            let now = self
                .cpu_seconds()
                .context("the operator has no /proc entry")?;
            if now - last < 0.02 * window.as_secs_f64() {
                return Ok(true);
            }
            last = now;
        }
        Ok(false)
    }

    /// SIGTERM, then up to 40 s for it to exit; then SIGKILL to whatever is left of its group.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.sampler.abort();
        let mut exited = self.child.try_wait()?.is_some();
        if !exited {
            Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status()
                .await?;
            exited = tokio::time::timeout(Duration::from_secs(40), self.child.wait())
                .await
                .is_ok();
        }
        kill_group(self.pid);
        if !exited {
            let _ = self.child.wait().await;
            bail!("the operator did not exit within 40 s of SIGTERM: killed");
        }
        Ok(())
    }
}

/// SIGKILL to every process left in the group `pid` leads (no-op when there is none).
fn kill_group(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(std::process::Stdio::null())
        .status();
}

impl Drop for Process {
    fn drop(&mut self) {
        self.sampler.abort();
        // The harness let go of it without stopping it (a failure or an interrupt): nothing of it
        // may outlive the run.
        if matches!(self.child.try_wait(), Ok(None)) {
            kill_group(self.pid);
        }
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether a plain HTTP/1.0 GET on 127.0.0.1 answers 200.
async fn http_ok(port: u16, path: &str) -> bool {
    http_get(port, path).await.is_some()
}

/// The body of a plain HTTP/1.0 GET on 127.0.0.1, if it answered 200 (blocking I/O on a blocking
/// thread: the workspace's tokio has no io-util).
pub async fn http_get(port: u16, path: &str) -> Option<String> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let attempt = tokio::task::spawn_blocking(move || -> std::io::Result<Option<String>> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(2),
        )?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(request.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let Some((head, body)) = response.split_once("\r\n\r\n") else {
            return Ok(None);
        };
        let status = head.lines().next().unwrap_or_default();
        Ok(status
            .split_whitespace()
            .nth(1)
            .filter(|code| *code == "200")
            .map(|_| body.to_owned()))
    });
    attempt.await.ok()?.ok()?
}
