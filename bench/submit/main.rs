//! Plans built per second on one thread for a spark-pi-sized application (not a test: it measures).
//!
//! Run: cargo run --release -p sparkplane-submit --example bench-submit [seconds]

use std::time::{Duration, Instant};

use sparkplane_submit::render::{RenderOptions, plan_from_yaml};
use sparkplane_submit::{Attempt, Settings, build};

const SPARK_PI: &str = include_str!("../../scripts/fidelity/cases/spark-pi-4.yaml");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let yaml = SPARK_PI.replace(
        "metadata:\n",
        "metadata:\n  namespace: bench\n  uid: 0b4f3c2e-1111-4a2b-8c3d-000000000001\n",
    );
    // Parse and default once: the operator builds from an object it already holds.
    let (app, _) = plan_from_yaml(&yaml, &RenderOptions::default())?;
    let settings = Settings::default();
    let budget = Duration::from_secs(seconds);
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < budget {
        for _ in 0..100 {
            n += 1;
            let plan = build(&app, &settings, Attempt(n))?;
            std::hint::black_box(plan);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "submit: {n} plans in {elapsed:.2}s on one thread: {:.0} plans/s ({:.1} us/plan)",
        f64::from(n) / elapsed,
        elapsed * 1e6 / f64::from(n)
    );
    Ok(())
}
