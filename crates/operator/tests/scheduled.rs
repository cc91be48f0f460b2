//! ScheduledSparkApplication scenarios against the testbed: the operator binary (both controllers)
//! runs as the test's ServiceAccount, scoped to the test's namespace, and kwok plays the drivers.
//! Timings get slack: a run is "on time" within a couple of seconds of its due time.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sparkplane_api::v1beta2::ScheduleState;
use sparkplane_api::{ScheduledSparkApplication, SparkApplication};
use sparkplane_testbed::wait;
use support::{Env, Operator, create_service_account};

const LABEL: &str = "sparkoperator.k8s.io/scheduled-app-name";

/// A schedule whose runs' drivers end after `complete_after` (none: they keep running).
fn schedule(name: &str, schedule: &str, complete_after: Option<&str>, extra: Value) -> Value {
    let mut template = support::app("unused", complete_after.unwrap_or("1s"), 0)["spec"].clone();
    if complete_after.is_none() {
        template["driver"]["annotations"] = json!({});
    }
    let mut spec = json!({"schedule": schedule, "template": template});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "ScheduledSparkApplication",
        "metadata": {"name": name},
        "spec": spec
    })
}

fn schedules(env: &Env) -> Api<ScheduledSparkApplication> {
    Api::namespaced(env.admin.clone(), env.name())
}

async fn create(env: &Env, object: &Value) -> anyhow::Result<ScheduledSparkApplication> {
    let object: ScheduledSparkApplication = serde_json::from_value(object.clone())?;
    Ok(schedules(env)
        .create(&PostParams::default(), &object)
        .await?)
}

async fn patch_spec(env: &Env, name: &str, spec: Value) -> anyhow::Result<()> {
    schedules(env)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await?;
    Ok(())
}

/// The runs of `name` that exist now (not being deleted), oldest first.
async fn runs(env: &Env, name: &str) -> anyhow::Result<Vec<SparkApplication>> {
    let mut runs: Vec<SparkApplication> = env
        .apps()
        .list(&ListParams::default().labels(&format!("{LABEL}={name}")))
        .await?
        .items
        .into_iter()
        .filter(|run| run.metadata.deletion_timestamp.is_none())
        .collect();
    runs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(runs)
}

/// Polls until `check` holds on the schedule; returns it.
async fn wait_schedule(
    env: &Env,
    name: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&ScheduledSparkApplication) -> bool + Clone,
) -> anyhow::Result<ScheduledSparkApplication> {
    let api = schedules(env);
    let last = Arc::new(Mutex::new(None));
    let result = wait::until(timeout, || {
        let (api, last, check) = (api.clone(), last.clone(), check.clone());
        async move {
            let schedule = api.get(name).await?;
            let ok = check(&schedule);
            *last.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(schedule);
            Ok(ok)
        }
    })
    .await;
    let last = last.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.take();
    match (result, last) {
        (Ok(()), Some(schedule)) => Ok(schedule),
        (result, last) => bail!(
            "{name}: {what} did not happen ({:?}); last status: {:?}",
            result.err(),
            last.and_then(|s| s.status)
        ),
    }
}

/// The due time a run's name carries.
fn due_of(run_name: &str) -> anyhow::Result<Timestamp> {
    let seconds: i64 = run_name
        .rsplit('-')
        .next()
        .context("no suffix")?
        .parse()
        .with_context(|| format!("{run_name}: no unix seconds"))?;
    Ok(Timestamp::from_second(seconds)?)
}

fn last_run_name(schedule: &ScheduledSparkApplication) -> Option<String> {
    schedule.status.as_ref()?.last_run_name.clone()
}

#[tokio::test]
async fn every_3s_creates_runs_on_time_and_trims_history() -> anyhow::Result<()> {
    let env = support::setup("sched-every").await?;
    let _operator = Operator::start(&env, &[])?;
    create(&env, &schedule("pi", "@every 3s", Some("1s"), json!({}))).await?;

    // Collect run names as they appear: history limits delete older runs as we go.
    let seen = Arc::new(Mutex::new(BTreeSet::<(String, Timestamp)>::new()));
    wait::until(Duration::from_secs(40), || {
        let (env, seen) = (&env, seen.clone());
        async move {
            for run in runs(env, "pi").await? {
                let created = run
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .context("no creationTimestamp")?;
                seen.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .insert((run.metadata.name.clone().unwrap_or_default(), created));
            }
            Ok(seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.len() >= 5)
        }
    })
    .await
    .context("five runs")?;
    let seen = seen
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut dues = Vec::new();
    for (name, created) in &seen {
        let due = due_of(name)?;
        let late = created.duration_since(due);
        // Created at its due time: not before it, and within 2 s of it (whole seconds on both).
        ensure!(
            late >= jiff::SignedDuration::ZERO && late <= jiff::SignedDuration::from_secs(2),
            "{name} created at {created}, {late:?} after its due time"
        );
        dues.push(due.as_second());
    }
    for pair in dues.windows(2) {
        ensure!(
            (pair[1] - pair[0]) % 3 == 0,
            "due times not 3 s apart: {dues:?}"
        );
    }

    // Runs end within seconds; with history limits of 1, at most one finished run stays.
    let trimmed = wait_schedule(
        &env,
        "pi",
        Duration::from_secs(30),
        "history trimmed to one run",
        |s| {
            s.status
                .as_ref()
                .and_then(|s| s.past_successful_run_names.as_ref())
                .is_some_and(|names| names.len() == 1)
        },
    )
    .await?;
    let kept = trimmed
        .status
        .and_then(|s| s.past_successful_run_names)
        .unwrap_or_default();
    wait::until(Duration::from_secs(20), || async {
        let finished: Vec<String> = runs(&env, "pi")
            .await?
            .into_iter()
            .filter(|run| {
                support::state(run) == sparkplane_api::v1beta2::ApplicationStateType::Completed
            })
            .filter_map(|run| run.metadata.name)
            .collect();
        Ok(finished.len() <= 1)
    })
    .await
    .context("completed runs beyond the limit are deleted")?;
    // The run kept is one of this schedule's, a later one than the first seen: the history moved
    // on with the runs rather than keeping the first.
    let first = seen
        .iter()
        .next()
        .map(|(name, _)| name.clone())
        .unwrap_or_default();
    let kept_run = kept.first().context("no run in the history")?;
    ensure!(
        kept_run.starts_with("pi-") && due_of(kept_run)? > due_of(&first)?,
        "history {kept:?}, first run seen {first}"
    );
    // The oldest runs seen are gone.
    ensure!(
        env.apps()
            .get_opt(&first)
            .await?
            .is_none_or(|run| run.metadata.deletion_timestamp.is_some()),
        "{first} was kept beyond the history limit"
    );
    Ok(())
}

#[tokio::test]
async fn forbid_skips_while_a_run_is_running_then_replace_replaces_it() -> anyhow::Result<()> {
    let env = support::setup("sched-forbid").await?;
    let operator = Operator::start(&env, &[])?;
    // Drivers that never end.
    create(
        &env,
        &schedule(
            "long",
            "@every 3s",
            None,
            json!({"concurrencyPolicy": "Forbid"}),
        ),
    )
    .await?;
    let first = wait_schedule(&env, "long", Duration::from_secs(20), "a first run", |s| {
        last_run_name(s).is_some()
    })
    .await?;
    let first = last_run_name(&first).context("no run name")?;
    support::wait_state(
        &env,
        &first,
        sparkplane_api::v1beta2::ApplicationStateType::Running,
        Duration::from_secs(30),
    )
    .await?;
    // Two more due times pass: skipped, the first run alone.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let names: Vec<String> = runs(&env, "long")
        .await?
        .into_iter()
        .filter_map(|run| run.metadata.name)
        .collect();
    ensure!(names == [first.clone()], "Forbid let runs start: {names:?}");
    let reasons = support::event_reasons(&env, "long").await?;
    ensure!(
        reasons
            .iter()
            .any(|r| r == "ScheduledSparkApplicationRunSkipped"),
        "no skip event: {reasons:?}"
    );
    let metrics = operator.metrics().await?;
    ensure!(
        metrics.contains("scheduled_spark_application_run_skipped_total{namespace="),
        "no skip metric"
    );

    // Replace: the running run is deleted and a new one starts.
    patch_spec(&env, "long", json!({"concurrencyPolicy": "Replace"})).await?;
    let replaced = wait_schedule(&env, "long", Duration::from_secs(20), "a new run", |s| {
        last_run_name(s).is_some_and(|name| name != first)
    })
    .await?;
    let second = last_run_name(&replaced).context("no run name")?;
    wait::until(Duration::from_secs(20), || async {
        Ok(env.apps().get_opt(&first).await?.is_none())
    })
    .await
    .with_context(|| format!("{first} was not deleted by Replace"))?;
    ensure!(
        support::event_reasons(&env, "long")
            .await?
            .iter()
            .any(|r| r == "ScheduledSparkApplicationRunReplaced"),
        "no replace event"
    );
    ensure!(due_of(&second)? > due_of(&first)?);
    Ok(())
}

#[tokio::test]
async fn suspend_stops_runs_and_resuming_starts_them_again() -> anyhow::Result<()> {
    let env = support::setup("sched-suspend").await?;
    let _operator = Operator::start(&env, &[])?;
    create(
        &env,
        &schedule("paused", "@every 3s", Some("1s"), json!({"suspend": true})),
    )
    .await?;
    wait_schedule(&env, "paused", Duration::from_secs(20), "Scheduled", |s| {
        s.status.as_ref().and_then(|s| s.schedule_state) == Some(ScheduleState::Scheduled)
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(7)).await;
    ensure!(
        runs(&env, "paused").await?.is_empty(),
        "a suspended schedule created runs"
    );
    let status = schedules(&env)
        .get("paused")
        .await?
        .status
        .unwrap_or_default();
    ensure!(
        status.next_run.is_none(),
        "suspended yet planned: {status:?}"
    );

    let resumed_at = Timestamp::now();
    patch_spec(&env, "paused", json!({"suspend": false})).await?;
    let resumed = wait_schedule(
        &env,
        "paused",
        Duration::from_secs(20),
        "a run after resuming",
        |s| last_run_name(s).is_some(),
    )
    .await?;
    // No catch-up for the time suspended: the first run is due after resuming.
    let due = due_of(&last_run_name(&resumed).context("no run")?)?;
    ensure!(
        due.as_second() >= resumed_at.as_second(),
        "run due {due} before resuming at {resumed_at}"
    );
    Ok(())
}

#[tokio::test]
async fn invalid_schedule_and_time_zone_are_reported_and_fixing_recovers() -> anyhow::Result<()> {
    let env = support::setup("sched-invalid").await?;
    let _operator = Operator::start(&env, &[])?;
    create(&env, &schedule("bad", "61 * * * *", Some("1s"), json!({}))).await?;
    let failed = wait_schedule(
        &env,
        "bad",
        Duration::from_secs(20),
        "FailedValidation",
        |s| {
            s.status.as_ref().and_then(|s| s.schedule_state)
                == Some(ScheduleState::FailedValidation)
        },
    )
    .await?;
    let reason = failed.status.and_then(|s| s.reason).unwrap_or_default();
    ensure!(reason.contains("\"61 * * * *\""), "reason: {reason}");
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(env.admin.clone(), env.name());
    wait::until(Duration::from_secs(10), || async {
        Ok(events
            .list(&ListParams::default().fields("involvedObject.name=bad"))
            .await?
            .items
            .iter()
            .any(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("ScheduledSparkApplicationFailedValidation")
            }))
    })
    .await
    .context("a Warning event")?;

    patch_spec(
        &env,
        "bad",
        json!({"schedule": "@every 3s", "timeZone": "Mars/Olympus"}),
    )
    .await?;
    let zone = wait_schedule(
        &env,
        "bad",
        Duration::from_secs(20),
        "time zone reported",
        |s| {
            s.status
                .as_ref()
                .and_then(|s| s.reason.as_deref())
                .is_some_and(|r| r.contains("\"Mars/Olympus\""))
        },
    )
    .await?;
    ensure!(zone.status.and_then(|s| s.schedule_state) == Some(ScheduleState::FailedValidation));
    ensure!(
        runs(&env, "bad").await?.is_empty(),
        "an invalid schedule ran"
    );

    let fixed_at = Timestamp::now();
    patch_spec(&env, "bad", json!({"timeZone": "Europe/Paris"})).await?;
    let fixed = wait_schedule(
        &env,
        "bad",
        Duration::from_secs(20),
        "recovered with a run",
        |s| {
            s.status.as_ref().is_some_and(|st| {
                st.schedule_state == Some(ScheduleState::Scheduled) && st.reason.is_none()
            }) && last_run_name(s).is_some()
        },
    )
    .await?;
    // The run it names is a run of this schedule, planned from the fix (nothing owed from the
    // time the spec was invalid).
    let name = last_run_name(&fixed).context("no run name")?;
    let run = env.apps().get(&name).await?;
    ensure!(
        run.metadata.labels.as_ref().and_then(|l| l.get(LABEL)) == Some(&"bad".to_owned()),
        "{name} is not labelled as a run of bad: {:?}",
        run.metadata.labels
    );
    let due = due_of(&name)?;
    ensure!(
        due.as_second() >= fixed_at.as_second(),
        "run due {due} before the fix at {fixed_at}"
    );
    Ok(())
}

#[tokio::test]
async fn deleting_the_schedule_deletes_its_runs() -> anyhow::Result<()> {
    let env = support::setup("sched-delete").await?;
    let _operator = Operator::start(&env, &[])?;
    create(
        &env,
        &schedule(
            "gone",
            "@every 3s",
            None,
            json!({"successfulRunHistoryLimit": 5}),
        ),
    )
    .await?;
    wait::until(Duration::from_secs(30), || async {
        Ok(runs(&env, "gone").await?.len() >= 2)
    })
    .await
    .context("two runs")?;
    let run = runs(&env, "gone").await?;
    let owner = run[0]
        .metadata
        .owner_references
        .as_ref()
        .and_then(|owners| owners.first())
        .context("no owner")?;
    ensure!(owner.kind == "ScheduledSparkApplication" && owner.name == "gone");
    schedules(&env)
        .delete("gone", &DeleteParams::background())
        .await?;
    // The garbage collector follows the owner references.
    wait::until(Duration::from_secs(60), || async {
        Ok(env
            .apps()
            .list(&ListParams::default().labels(&format!("{LABEL}=gone")))
            .await?
            .items
            .is_empty())
    })
    .await
    .context("runs left after deleting their schedule")?;
    Ok(())
}

/// The longest name the schema takes (63 characters, digits and dashes inside): `<name>-<seconds>`
/// would pass 63, so each run is named the schedule's name cut short, a hash and its due time; the run
/// is itself a 63-character application, whose UI Service name is cut short the same way, and it
/// completes with its driver found by its `app-name` label.
#[tokio::test]
async fn a_63_character_schedule_runs_under_shortened_names() -> anyhow::Result<()> {
    let env = support::setup("sched-long").await?;
    let _operator = Operator::start(&env, &[])?;
    let name = format!("nightly-2-etl-{}-x9", "a".repeat(46));
    ensure!(name.len() == 63);
    create(&env, &schedule(&name, "@every 3s", Some("1s"), json!({}))).await?;
    let first = wait_schedule(&env, &name, Duration::from_secs(30), "a first run", |s| {
        last_run_name(s).is_some()
    })
    .await?;
    let run_name = last_run_name(&first).context("no run name")?;
    sparkplane_api::names::check_dns1035(&run_name, 63)?;
    ensure!(
        run_name.len() == 63 && run_name.starts_with(&name[..40]),
        "run name {run_name}"
    );
    due_of(&run_name)?;
    ensure!(
        runs(&env, &name)
            .await?
            .iter()
            .any(|run| run.metadata.name.as_deref() == Some(run_name.as_str())),
        "{run_name} is not listed under the schedule's label"
    );
    let done = support::wait_state(
        &env,
        &run_name,
        sparkplane_api::v1beta2::ApplicationStateType::Completed,
        Duration::from_secs(60),
    )
    .await?;
    let status = done.status.context("no status")?;
    let ui_service = status
        .driver_info
        .web_ui_service_name
        .context("no UI Service in the status")?;
    sparkplane_api::names::check_dns1035(&ui_service, 63)?;
    ensure!(
        ui_service.starts_with(&run_name[..30]) && ui_service.ends_with("-ui-svc"),
        "UI Service {ui_service}"
    );
    let driver = status.driver_info.pod_name.context("no driver pod")?;
    ensure!(driver == format!("{run_name}-driver"), "driver {driver}");
    let pod = env.pods().get(&driver).await?;
    ensure!(
        pod.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("sparkoperator.k8s.io/app-name"))
            == Some(&run_name),
        "driver labels {:?}",
        pod.metadata.labels
    );
    Ok(())
}

/// examples/spark-pi-scheduled.yaml, applied as written but for three things a test needs: its
/// namespace, a schedule of every 3 s instead of every 5 minutes, and the testbed annotation that
/// ends each simulated driver after 1 s.
#[tokio::test]
async fn the_example_runs_on_the_testbed() -> anyhow::Result<()> {
    let env = support::setup("sched-example").await?;
    let _operator = Operator::start(&env, &[])?;
    let text = std::fs::read_to_string(
        sparkplane_testbed::repo_root().join("examples/spark-pi-scheduled.yaml"),
    )?;
    let mut example: Value = serde_yaml::from_str(&text)?;
    example["metadata"]["namespace"] = json!(env.name());
    example["spec"]["schedule"] = json!("@every 3s");
    example["spec"]["template"]["driver"]["annotations"] =
        json!({"testbed.sparkplane.io/complete-after": "1s"});
    // The drivers' ServiceAccount, as deploy/rbac/spark-driver.yaml makes it.
    create_service_account(&env, "spark-operator-spark").await?;
    create(&env, &example).await?;

    let done = wait_schedule(
        &env,
        "spark-pi-scheduled",
        Duration::from_secs(40),
        "two successful runs kept",
        |s| {
            s.status
                .as_ref()
                .and_then(|s| s.past_successful_run_names.as_ref())
                .is_some_and(|names| names.len() >= 2)
        },
    )
    .await?;
    let status = done.status.unwrap_or_default();
    ensure!(status.schedule_state == Some(ScheduleState::Scheduled));
    ensure!(status.next_run.is_some() && status.last_run.is_some());
    for name in status.past_successful_run_names.unwrap_or_default() {
        let run = env.apps().get(&name).await?;
        ensure!(
            support::state(&run) == sparkplane_api::v1beta2::ApplicationStateType::Completed,
            "{name} is in the history but not COMPLETED"
        );
    }
    Ok(())
}
