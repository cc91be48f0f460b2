//! Table and scenario tests of `decide` with a fake clock: no I/O, time is a value.

use super::*;

const NAME: &str = "pi";

fn at(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

fn time(text: &str) -> Option<Time> {
    Some(Time(at(text)))
}

fn spec(schedule: &str) -> ScheduledSparkApplicationSpec {
    ScheduledSparkApplicationSpec {
        schedule: schedule.into(),
        time_zone: Some("UTC".into()),
        ..Default::default()
    }
}

fn scheduled(next_run: &str) -> ScheduledSparkApplicationStatus {
    ScheduledSparkApplicationStatus {
        schedule_state: Some(ScheduleState::Scheduled),
        next_run: time(next_run),
        ..Default::default()
    }
}

fn run(name: &str, created: &str, outcome: Outcome) -> Run {
    Run {
        name: name.into(),
        created: Some(at(created)),
        outcome,
        deleting: false,
    }
}

fn decide_at(
    spec: &ScheduledSparkApplicationSpec,
    status: &ScheduledSparkApplicationStatus,
    runs: &[Run],
    now: &str,
) -> Decision {
    decide(Input {
        name: NAME,
        spec,
        status,
        runs,
        now: at(now),
        local_zone: &TimeZone::UTC,
    })
}

fn created(decision: &Decision) -> Option<&str> {
    decision.create.as_ref().map(|run| run.name.as_str())
}

fn reasons(decision: &Decision) -> Vec<Reason> {
    decision.events.iter().map(|event| event.reason).collect()
}

fn deleted(decision: &Decision) -> Vec<(&str, DeletionCause)> {
    decision
        .delete
        .iter()
        .map(|deletion| (deletion.name.as_str(), deletion.cause))
        .collect()
}

#[test]
fn run_names_carry_the_due_time_in_unix_seconds() {
    assert_eq!(run_name("pi", at("2025-01-01T00:00:00Z")), "pi-1735689600");
}

#[test]
fn runs_of_a_long_schedule_name_are_cut_to_valid_distinct_application_names() {
    let long = format!("nightly-{}", "x".repeat(55));
    assert_eq!(long.len(), 63);
    let first = run_name(&long, at("2025-01-01T00:00:00Z"));
    let second = run_name(&long, at("2025-01-01T00:01:00Z"));
    for run in [&first, &second] {
        assert!(run.len() <= 63, "{run}");
        assert!(run.starts_with("nightly-xxx"), "{run}");
        sparkplane_api::names::check_dns1035(run, 63).expect("a valid application name");
    }
    assert!(first.ends_with("-1735689600"), "{first}");
    assert!(second.ends_with("-1735689660"), "{second}");
    assert_ne!(first, second);
    // Another schedule sharing the first 43 characters gets other names.
    let sibling = format!("nightly-{}y", "x".repeat(54));
    assert_ne!(run_name(&sibling, at("2025-01-01T00:00:00Z")), first);
}

#[test]
fn a_new_schedule_plans_its_first_run_and_creates_nothing() {
    let decision = decide_at(
        &spec("@hourly"),
        &ScheduledSparkApplicationStatus::default(),
        &[],
        "2025-01-01T10:20:30.5Z",
    );
    assert_eq!(decision.create, None);
    assert!(decision.delete.is_empty());
    assert!(decision.events.is_empty());
    assert_eq!(
        decision.status,
        ScheduledSparkApplicationStatus {
            schedule_state: Some(ScheduleState::Scheduled),
            next_run: time("2025-01-01T11:00:00Z"),
            ..Default::default()
        }
    );
    assert_eq!(decision.requeue_at, Some(at("2025-01-01T11:00:00Z")));
}

#[test]
fn before_the_due_time_nothing_happens() {
    let status = scheduled("2025-01-01T11:00:00Z");
    let decision = decide_at(&spec("@hourly"), &status, &[], "2025-01-01T10:59:59.999Z");
    assert_eq!(decision.create, None);
    assert_eq!(decision.status, status);
    assert_eq!(decision.requeue_at, Some(at("2025-01-01T11:00:00Z")));
}

#[test]
fn at_the_due_time_a_run_is_created_and_the_next_planned() {
    let decision = decide_at(
        &spec("@hourly"),
        &scheduled("2025-01-01T11:00:00Z"),
        &[],
        "2025-01-01T11:00:00.2Z",
    );
    assert_eq!(
        decision.create,
        Some(NewRun {
            name: "pi-1735729200".into(),
            due: at("2025-01-01T11:00:00Z"),
        })
    );
    assert_eq!(decision.status.last_run, time("2025-01-01T11:00:00Z"));
    assert_eq!(
        decision.status.last_run_name.as_deref(),
        Some("pi-1735729200")
    );
    assert_eq!(decision.status.next_run, time("2025-01-01T12:00:00Z"));
    assert_eq!(decision.requeue_at, Some(at("2025-01-01T12:00:00Z")));
    assert_eq!(reasons(&decision), [Reason::RunCreated]);
    assert_eq!(
        decision.events[0].message,
        "created pi-1735729200 for 2025-01-01T11:00:00+00:00[UTC]"
    );
}

#[test]
fn concurrency_policies() {
    let unfinished = run("pi-1", "2025-01-01T10:00:00Z", Outcome::Unfinished);
    let leaving = Run {
        deleting: true,
        ..run("pi-2", "2025-01-01T10:30:00Z", Outcome::Unfinished)
    };
    let done = run("pi-3", "2025-01-01T10:40:00Z", Outcome::Succeeded);
    let failed = run("pi-4", "2025-01-01T10:50:00Z", Outcome::Failed);
    let new_run = Some("pi-1735729200");
    // (policy, runs, created, deleted, events)
    type Case<'a> = (
        Option<ConcurrencyPolicy>,
        Vec<Run>,
        Option<&'a str>,
        Vec<(&'a str, DeletionCause)>,
        Vec<Reason>,
    );
    let cases: Vec<Case> = vec![
        (
            None,
            vec![unfinished.clone()],
            new_run,
            vec![],
            vec![Reason::RunCreated],
        ),
        (
            Some(ConcurrencyPolicy::Allow),
            vec![unfinished.clone()],
            new_run,
            vec![],
            vec![Reason::RunCreated],
        ),
        (
            Some(ConcurrencyPolicy::Forbid),
            vec![unfinished.clone(), done.clone()],
            None,
            vec![],
            vec![Reason::RunSkipped],
        ),
        (
            Some(ConcurrencyPolicy::Forbid),
            vec![done.clone(), failed.clone()],
            new_run,
            vec![],
            vec![Reason::RunCreated],
        ),
        // A run being deleted no longer holds the schedule back.
        (
            Some(ConcurrencyPolicy::Forbid),
            vec![leaving.clone()],
            new_run,
            vec![],
            vec![Reason::RunCreated],
        ),
        (
            Some(ConcurrencyPolicy::Replace),
            vec![unfinished.clone(), leaving.clone(), done.clone()],
            new_run,
            vec![("pi-1", DeletionCause::Replaced)],
            vec![Reason::RunReplaced, Reason::RunCreated],
        ),
        (
            Some(ConcurrencyPolicy::Replace),
            vec![done.clone()],
            new_run,
            vec![],
            vec![Reason::RunCreated],
        ),
    ];
    for (policy, runs, expected_run, expected_deletes, expected_events) in cases {
        let spec = ScheduledSparkApplicationSpec {
            concurrency_policy: policy,
            successful_run_history_limit: Some(5),
            failed_run_history_limit: Some(5),
            ..spec("@hourly")
        };
        let decision = decide_at(
            &spec,
            &scheduled("2025-01-01T11:00:00Z"),
            &runs,
            "2025-01-01T11:00:01Z",
        );
        let case = format!("{policy:?} with {runs:?}");
        assert_eq!(created(&decision), expected_run, "{case}");
        assert_eq!(deleted(&decision), expected_deletes, "{case}");
        assert_eq!(reasons(&decision), expected_events, "{case}");
        // Skipped or not, the next due time is planned.
        assert_eq!(
            decision.status.next_run,
            time("2025-01-01T12:00:00Z"),
            "{case}"
        );
    }
}

#[test]
fn a_skip_says_which_run_holds_the_schedule_back_and_keeps_the_last_run() {
    let mut status = scheduled("2025-01-01T11:00:00Z");
    status.last_run = time("2025-01-01T10:00:00Z");
    status.last_run_name = Some("pi-1735725600".into());
    let spec = ScheduledSparkApplicationSpec {
        concurrency_policy: Some(ConcurrencyPolicy::Forbid),
        ..spec("@hourly")
    };
    let runs = [run(
        "pi-1735725600",
        "2025-01-01T10:00:00Z",
        Outcome::Unfinished,
    )];
    let decision = decide_at(&spec, &status, &runs, "2025-01-01T11:00:00Z");
    assert_eq!(
        decision.events[0].message,
        "skipped the run due at 2025-01-01T11:00:00+00:00[UTC]: pi-1735725600 not finished (concurrencyPolicy Forbid)"
    );
    assert_eq!(decision.status.last_run, status.last_run);
    assert_eq!(decision.status.last_run_name, status.last_run_name);
}

#[test]
fn after_downtime_one_run_catches_up_for_the_latest_due_time() {
    // Down from 11:00 to 15:42: four hourly due times passed.
    let decision = decide_at(
        &spec("@hourly"),
        &scheduled("2025-01-01T11:00:00Z"),
        &[],
        "2025-01-01T15:42:00Z",
    );
    assert_eq!(created(&decision), Some("pi-1735743600"));
    assert_eq!(decision.status.last_run, time("2025-01-01T15:00:00Z"));
    assert_eq!(decision.status.next_run, time("2025-01-01T16:00:00Z"));
    assert_eq!(
        decision.events[0].message,
        "created pi-1735743600 for 2025-01-01T15:00:00+00:00[UTC], one run for the due times missed since 2025-01-01T11:00:00+00:00[UTC]"
    );

    // @every keeps its rhythm: due every 3 s from 00:00:00, back at 00:00:10.
    let decision = decide_at(
        &spec("@every 3s"),
        &scheduled("2025-01-01T00:00:00Z"),
        &[],
        "2025-01-01T00:00:10Z",
    );
    assert_eq!(
        decision.create.map(|run| run.due),
        Some(at("2025-01-01T00:00:09Z"))
    );
    assert_eq!(decision.status.next_run, time("2025-01-01T00:00:12Z"));
}

#[test]
fn a_run_created_before_a_crash_is_not_created_again() {
    // The run exists but the status was not written: the same due time finds it.
    let runs = [run(
        "pi-1735729200",
        "2025-01-01T11:00:01Z",
        Outcome::Unfinished,
    )];
    let spec = ScheduledSparkApplicationSpec {
        concurrency_policy: Some(ConcurrencyPolicy::Replace),
        ..spec("@hourly")
    };
    let decision = decide_at(
        &spec,
        &scheduled("2025-01-01T11:00:00Z"),
        &runs,
        "2025-01-01T11:00:05Z",
    );
    assert_eq!(decision.create, None);
    assert!(
        decision.delete.is_empty(),
        "Replace must not delete the run it just made"
    );
    assert!(decision.events.is_empty());
    assert_eq!(
        decision.status.last_run_name.as_deref(),
        Some("pi-1735729200")
    );
    assert_eq!(decision.status.last_run, time("2025-01-01T11:00:00Z"));
    assert_eq!(decision.status.next_run, time("2025-01-01T12:00:00Z"));
}

#[test]
fn history_keeps_the_newest_finished_runs_within_the_limits() {
    let runs = [
        run("pi-10", "2025-01-01T10:00:00Z", Outcome::Succeeded),
        run("pi-11", "2025-01-01T11:00:00Z", Outcome::Succeeded),
        run("pi-12", "2025-01-01T12:00:00Z", Outcome::Failed),
        run("pi-13", "2025-01-01T13:00:00Z", Outcome::Succeeded),
        run("pi-14", "2025-01-01T14:00:00Z", Outcome::Failed),
        run("pi-15", "2025-01-01T15:00:00Z", Outcome::Unfinished),
        Run {
            deleting: true,
            ..run("pi-16", "2025-01-01T16:00:00Z", Outcome::Succeeded)
        },
    ];
    // (successful limit, failed limit, kept successful, kept failed, deleted)
    type Case = (
        Option<i32>,
        Option<i32>,
        Option<Vec<&'static str>>,
        Option<Vec<&'static str>>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            None,
            None,
            Some(vec!["pi-13"]),
            Some(vec!["pi-14"]),
            vec!["pi-11", "pi-10", "pi-12"],
        ),
        (
            Some(2),
            Some(5),
            Some(vec!["pi-13", "pi-11"]),
            Some(vec!["pi-14", "pi-12"]),
            vec!["pi-10"],
        ),
        (
            Some(0),
            Some(0),
            None,
            None,
            vec!["pi-13", "pi-11", "pi-10", "pi-14", "pi-12"],
        ),
        (
            Some(9),
            Some(9),
            Some(vec!["pi-13", "pi-11", "pi-10"]),
            Some(vec!["pi-14", "pi-12"]),
            vec![],
        ),
    ];
    for (successful, failed, kept_successful, kept_failed, expected_deleted) in cases {
        let spec = ScheduledSparkApplicationSpec {
            successful_run_history_limit: successful,
            failed_run_history_limit: failed,
            ..spec("@daily")
        };
        let decision = decide_at(
            &spec,
            &scheduled("2025-01-02T00:00:00Z"),
            &runs,
            "2025-01-01T17:00:00Z",
        );
        let own = |names: Option<Vec<&str>>| {
            names.map(|names| names.into_iter().map(String::from).collect())
        };
        assert_eq!(
            decision.status.past_successful_run_names,
            own(kept_successful)
        );
        assert_eq!(decision.status.past_failed_run_names, own(kept_failed));
        let deleted = deleted(&decision);
        assert!(
            deleted
                .iter()
                .all(|(_, cause)| *cause == DeletionCause::History)
        );
        assert_eq!(
            deleted
                .into_iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>(),
            expected_deleted
        );
        assert_eq!(decision.create, None);
    }
}

#[test]
fn runs_created_in_the_same_second_sort_by_name() {
    let runs = [
        run("pi-1735689600", "2025-01-01T10:00:00Z", Outcome::Succeeded),
        run("pi-1735689603", "2025-01-01T10:00:00Z", Outcome::Succeeded),
        Run {
            created: None,
            ..run("pi-1735689606", "2025-01-01T10:00:00Z", Outcome::Succeeded)
        },
    ];
    let decision = decide_at(
        &spec("@daily"),
        &scheduled("2025-01-02T00:00:00Z"),
        &runs,
        "2025-01-01T17:00:00Z",
    );
    assert_eq!(
        decision.status.past_successful_run_names,
        Some(vec!["pi-1735689603".to_string()])
    );
}

#[test]
fn suspended_schedules_create_nothing_and_resume_without_catching_up() {
    let suspended = ScheduledSparkApplicationSpec {
        suspend: Some(true),
        ..spec("@hourly")
    };
    let runs = [
        run("pi-a", "2025-01-01T08:00:00Z", Outcome::Succeeded),
        run("pi-b", "2025-01-01T09:00:00Z", Outcome::Succeeded),
    ];
    // Due, but suspended: no run, no plan, history still kept.
    let decision = decide_at(
        &suspended,
        &scheduled("2025-01-01T11:00:00Z"),
        &runs,
        "2025-01-01T11:00:00Z",
    );
    assert_eq!(decision.create, None);
    assert_eq!(decision.status.next_run, None);
    assert_eq!(decision.requeue_at, None);
    assert_eq!(deleted(&decision), [("pi-a", DeletionCause::History)]);
    assert!(decision.events.is_empty());

    // Resumed hours later: the next due time, not one for the hours suspended.
    let resumed = decide_at(
        &spec("@hourly"),
        &decision.status,
        &[],
        "2025-01-01T15:30:00Z",
    );
    assert_eq!(resumed.create, None);
    assert_eq!(resumed.status.next_run, time("2025-01-01T16:00:00Z"));
}

#[test]
fn invalid_schedules_and_zones_fail_validation_once_and_recover() {
    let cases = [
        (spec("61 * * * *"), "\"61 * * * *\""),
        (spec("every day"), "\"every day\""),
        (spec("@every 0s"), "\"0s\""),
        (spec("0 0 30 2 *"), "\"0 0 30 2 *\" never comes due"),
        (spec("CRON_TZ=Mars/Olympus @daily"), "\"Mars/Olympus\""),
        (
            ScheduledSparkApplicationSpec {
                time_zone: Some("Europe/Pariss".into()),
                ..spec("@daily")
            },
            "\"Europe/Pariss\"",
        ),
    ];
    for (bad, quoted) in cases {
        let runs = [
            run("pi-a", "2025-01-01T08:00:00Z", Outcome::Unfinished),
            run("pi-b", "2025-01-01T09:00:00Z", Outcome::Succeeded),
        ];
        let replace = ScheduledSparkApplicationSpec {
            concurrency_policy: Some(ConcurrencyPolicy::Replace),
            ..bad.clone()
        };
        let failed = decide_at(
            &replace,
            &scheduled("2025-01-01T11:00:00Z"),
            &runs,
            "2025-01-01T11:00:00Z",
        );
        let case = &bad.schedule;
        assert_eq!(
            failed.status.schedule_state,
            Some(ScheduleState::FailedValidation),
            "{case}"
        );
        let reason = failed.status.reason.clone().expect("a reason");
        assert!(reason.contains(quoted), "{case}: {reason}");
        assert_eq!(failed.create, None, "{case}");
        assert!(failed.delete.is_empty(), "{case}: no run is replaced");
        assert_eq!(failed.status.next_run, None, "{case}");
        assert_eq!(failed.requeue_at, None, "{case}");
        assert_eq!(reasons(&failed), [Reason::FailedValidation], "{case}");
        assert!(Reason::FailedValidation.is_warning());
        assert_eq!(failed.events[0].message, reason);

        // Deciding again on the same spec warns no more.
        let again = decide_at(&replace, &failed.status, &runs, "2025-01-01T11:05:00Z");
        assert!(again.events.is_empty(), "{case}");
        assert_eq!(again.status, failed.status, "{case}");

        // Fixed: scheduled again, from now.
        let fixed = decide_at(
            &spec("@hourly"),
            &failed.status,
            &runs,
            "2025-01-01T11:10:00Z",
        );
        assert_eq!(
            fixed.status.schedule_state,
            Some(ScheduleState::Scheduled),
            "{case}"
        );
        assert_eq!(fixed.status.reason, None, "{case}");
        assert_eq!(
            fixed.status.next_run,
            time("2025-01-01T12:00:00Z"),
            "{case}"
        );
        assert_eq!(fixed.create, None, "{case}");
    }
}

#[test]
fn a_changed_spec_replans() {
    // A cron pattern changed from 03:00 to 05:00: the plan follows.
    let decision = decide_at(
        &spec("0 5 * * *"),
        &scheduled("2025-01-02T03:00:00Z"),
        &[],
        "2025-01-01T12:00:00Z",
    );
    assert_eq!(decision.status.next_run, time("2025-01-02T05:00:00Z"));
    // A period shortened from an hour to 3 s: due 3 s from now, not in an hour.
    let decision = decide_at(
        &spec("@every 3s"),
        &scheduled("2025-01-01T13:00:00Z"),
        &[],
        "2025-01-01T12:00:00Z",
    );
    assert_eq!(decision.status.next_run, time("2025-01-01T12:00:03Z"));
    // A period's plan otherwise stays put, however often the schedule is looked at.
    let decision = decide_at(
        &spec("@every 3s"),
        &scheduled("2025-01-01T12:00:03Z"),
        &[],
        "2025-01-01T12:00:02Z",
    );
    assert_eq!(decision.status.next_run, time("2025-01-01T12:00:03Z"));
}

#[test]
fn local_means_the_operator_zone() {
    let tokyo = TimeZone::get("Asia/Tokyo").expect("tzdb");
    for zone in [None, Some("Local".to_string())] {
        let spec = ScheduledSparkApplicationSpec {
            time_zone: zone,
            ..spec("0 9 * * *")
        };
        let decision = decide(Input {
            name: NAME,
            spec: &spec,
            status: &ScheduledSparkApplicationStatus::default(),
            runs: &[],
            now: at("2025-01-01T12:00:00Z"),
            local_zone: &tokyo,
        });
        assert_eq!(decision.status.next_run, time("2025-01-02T00:00:00Z"));
    }
}

/// A fake cluster for scenarios: the decisions' runs are created and deleted, the status kept, and
/// the clock jumps to each requeue time (or by `step`, whichever is sooner).
struct World {
    spec: ScheduledSparkApplicationSpec,
    status: ScheduledSparkApplicationStatus,
    runs: Vec<Run>,
    now: Timestamp,
    local_zone: TimeZone,
    created: Vec<(String, Timestamp)>,
    events: Vec<Reason>,
}

impl World {
    fn new(spec: ScheduledSparkApplicationSpec, now: &str) -> Self {
        Self {
            spec,
            status: ScheduledSparkApplicationStatus::default(),
            runs: Vec::new(),
            now: at(now),
            local_zone: TimeZone::UTC,
            created: Vec::new(),
            events: Vec::new(),
        }
    }

    fn reconcile(&mut self) -> Option<Timestamp> {
        let decision = decide(Input {
            name: NAME,
            spec: &self.spec,
            status: &self.status,
            runs: &self.runs,
            now: self.now,
            local_zone: &self.local_zone,
        });
        for deletion in &decision.delete {
            self.runs.retain(|run| run.name != deletion.name);
        }
        if let Some(new_run) = &decision.create {
            self.runs.push(Run {
                name: new_run.name.clone(),
                created: Some(self.now),
                outcome: Outcome::Unfinished,
                deleting: false,
            });
            self.created.push((new_run.name.clone(), self.now));
        }
        self.events
            .extend(decision.events.iter().map(|event| event.reason));
        self.status = decision.status;
        decision.requeue_at
    }

    /// Runs the clock until `end`, reconciling at each requeue time and at least every `step`.
    fn run_until(
        &mut self,
        end: &str,
        step: jiff::SignedDuration,
        mut tick: impl FnMut(&mut Self),
    ) {
        let end = at(end);
        while self.now < end {
            let requeue = self.reconcile();
            let stepped = self.now + step;
            self.now = requeue
                .map_or(stepped, |requeue| requeue.min(stepped))
                .max(self.now + jiff::SignedDuration::from_millis(1));
            tick(self);
        }
    }

    fn finish_all(&mut self, outcome: Outcome) {
        for run in &mut self.runs {
            if run.outcome == Outcome::Unfinished {
                run.outcome = outcome;
            }
        }
    }
}

#[test]
fn every_3s_runs_on_time_and_keeps_one_run_of_history() {
    let mut world = World::new(spec("@every 3s"), "2025-01-01T00:00:00.4Z");
    world.run_until(
        "2025-01-01T00:00:31Z",
        jiff::SignedDuration::from_secs(60),
        |world| world.finish_all(Outcome::Succeeded),
    );
    let due: Vec<i64> = world
        .created
        .iter()
        .map(|(_, at)| at.as_second() - 1735689600)
        .collect();
    assert_eq!(due, [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
    assert!(
        world
            .created
            .iter()
            .all(|(name, at)| *name == run_name(NAME, *at))
    );
    // At the last look, 27 was the newest finished run: the history; 30 was just created.
    let left: Vec<&str> = world.runs.iter().map(|run| run.name.as_str()).collect();
    assert_eq!(left, ["pi-1735689627", "pi-1735689630"]);
    assert_eq!(
        world.status.past_successful_run_names,
        Some(vec!["pi-1735689627".to_string()])
    );
}

#[test]
fn forbid_skips_while_a_run_is_unfinished_and_resumes_after() {
    let mut world = World::new(
        ScheduledSparkApplicationSpec {
            concurrency_policy: Some(ConcurrencyPolicy::Forbid),
            ..spec("@every 10s")
        },
        "2025-01-01T00:00:00Z",
    );
    // The first run never finishes on its own.
    world.run_until(
        "2025-01-01T00:00:45Z",
        jiff::SignedDuration::from_secs(60),
        |_| {},
    );
    assert_eq!(world.created.len(), 1);
    assert_eq!(
        world
            .events
            .iter()
            .filter(|reason| **reason == Reason::RunSkipped)
            .count(),
        3
    );
    // Once it is done, the next due time creates a run.
    world.finish_all(Outcome::Failed);
    world.run_until(
        "2025-01-01T00:00:55Z",
        jiff::SignedDuration::from_secs(60),
        |_| {},
    );
    assert_eq!(world.created.len(), 2);
    assert_eq!(world.created[1].1, at("2025-01-01T00:00:50Z"));
    assert_eq!(
        world.status.past_failed_run_names,
        Some(vec![run_name(NAME, at("2025-01-01T00:00:10Z"))])
    );
}

#[test]
fn replace_keeps_one_run_alive() {
    let mut world = World::new(
        ScheduledSparkApplicationSpec {
            concurrency_policy: Some(ConcurrencyPolicy::Replace),
            ..spec("@every 10s")
        },
        "2025-01-01T00:00:00Z",
    );
    world.run_until(
        "2025-01-01T00:00:45Z",
        jiff::SignedDuration::from_secs(60),
        |_| {},
    );
    assert_eq!(world.created.len(), 4);
    assert_eq!(world.runs.len(), 1);
    assert_eq!(
        world.runs[0].name,
        run_name(NAME, at("2025-01-01T00:00:40Z"))
    );
    assert_eq!(
        world
            .events
            .iter()
            .filter(|reason| **reason == Reason::RunReplaced)
            .count(),
        3
    );
}

#[test]
fn daily_0230_in_paris_runs_once_a_day_across_both_transitions() {
    for (start, end, expected) in [
        (
            "2025-03-28T12:00:00Z",
            "2025-04-01T12:00:00Z",
            [
                "2025-03-29T01:30:00Z",
                "2025-03-30T01:00:00Z",
                "2025-03-31T00:30:00Z",
                "2025-04-01T00:30:00Z",
            ],
        ),
        (
            "2025-10-24T12:00:00Z",
            "2025-10-28T12:00:00Z",
            [
                "2025-10-25T00:30:00Z",
                "2025-10-26T00:30:00Z",
                "2025-10-27T01:30:00Z",
                "2025-10-28T01:30:00Z",
            ],
        ),
    ] {
        let mut world = World::new(
            ScheduledSparkApplicationSpec {
                time_zone: Some("Europe/Paris".into()),
                ..spec("30 2 * * *")
            },
            start,
        );
        // Reconciled every 20 minutes besides the requeues, as child events would.
        world.run_until(end, jiff::SignedDuration::from_mins(20), |world| {
            world.finish_all(Outcome::Succeeded)
        });
        let times: Vec<Timestamp> = world.created.iter().map(|(_, at)| *at).collect();
        assert_eq!(times, expected.map(at), "from {start}");
    }
}

#[test]
fn reconciling_often_changes_nothing_between_due_times() {
    let mut world = World::new(spec("*/5 * * * *"), "2025-01-01T00:00:30Z");
    world.run_until(
        "2025-01-01T00:30:00Z",
        jiff::SignedDuration::from_secs(7),
        |_| {},
    );
    assert_eq!(world.created.len(), 5, "{:?}", world.created);
    assert!(
        world
            .created
            .iter()
            .all(|(_, at)| at.as_second() % 300 == 0)
    );
}
