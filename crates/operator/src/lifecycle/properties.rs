//! Properties of the state machine over generated histories: an application is driven through any
//! sequence of driver fates, vanishing pods, clock jumps, spec edits and suspensions, with each
//! decision applied as the operator's shell would (status written, run submitted from its plan, run
//! deleted), and after every step the history must hold:
//! - the attempt counters never go down;
//! - a terminal state (COMPLETED, FAILED) is left only through a spec change;
//! - a terminal status has its termination time;
//! - the conditions agree with the state;
//! - at most one driver exists, and a submitted run's driver carries its submission id.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sparkplane_api::SparkApplication;
use sparkplane_api::v1beta2::{ApplicationStateType as S, RestartPolicyType};

use super::*;

/// One thing that happens to the application or its driver before the operator looks again.
#[derive(Debug, Clone)]
enum Step {
    /// The clock moves on by this many seconds.
    Wait(u16),
    /// The driver pod (if any) reaches this phase; an ended one with this exit code.
    Driver(PodPhase, i32),
    /// The driver pod disappears (deleted by someone, evicted and collected).
    DriverGone,
    /// The spec changes (new arguments): a rerun.
    Edit,
    /// `spec.suspend` is set to this.
    Suspend(bool),
    /// The application's driver-start limit annotation is set (seconds).
    DriverStartLimit(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u16..400).prop_map(Step::Wait),
        (
            prop::sample::select(vec![
                PodPhase::Pending,
                PodPhase::Running,
                PodPhase::Succeeded,
                PodPhase::Failed,
                PodPhase::Unknown,
            ]),
            0i32..3
        )
            .prop_map(|(phase, code)| Step::Driver(phase, code)),
        Just(Step::DriverGone),
        Just(Step::Edit),
        any::<bool>().prop_map(Step::Suspend),
        (1u16..600).prop_map(Step::DriverStartLimit),
    ]
}

/// The application, its driver pod and the clock, as the operator would see them.
struct World {
    app: SparkApplication,
    driver: Option<PodObs>,
    now: Timestamp,
    /// Deleted by TTL: nothing more happens.
    deleted: bool,
}

/// The tables' application under `policy`, with no spec-hash annotation: its runs record their spec
/// in their submission ids, as new applications' do.
fn app(policy: RestartPolicyType, retries: i32) -> SparkApplication {
    let mut app = super::tests::with_policy(super::tests::base(), policy, retries);
    app.metadata.annotations = None;
    app.metadata.generation = Some(1);
    app
}

impl World {
    fn observed(&self) -> Observed {
        Observed {
            driver: self.driver.clone(),
            executors: vec![],
        }
    }

    /// What happens before the operator looks; whether it changed the spec.
    fn happen(&mut self, step: &Step) -> bool {
        match step {
            Step::Wait(secs) => {
                self.now += Duration::from_secs(u64::from(*secs));
            }
            Step::Driver(phase, code) => {
                if let Some(driver) = self.driver.as_mut() {
                    driver.phase = *phase;
                    driver.terminated = matches!(phase, PodPhase::Succeeded | PodPhase::Failed)
                        .then(|| Terminated {
                            exit_code: if *phase == PodPhase::Succeeded {
                                0
                            } else {
                                code + 1
                            },
                            reason: None,
                            message: None,
                        });
                }
            }
            Step::DriverGone => self.driver = None,
            Step::Edit => {
                let n = self.app.spec.arguments.as_ref().map_or(0, Vec::len);
                self.app.spec.arguments = Some(vec!["x".into(); n + 1]);
                self.app.metadata.generation = self.app.metadata.generation.map(|g| g + 1);
                return true;
            }
            Step::Suspend(on) => self.app.spec.suspend = Some(*on),
            Step::DriverStartLimit(secs) => {
                self.app
                    .metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(timeouts::DRIVER_START_ANNOTATION.into(), format!("{secs}s"));
            }
        }
        false
    }

    /// One look by the operator, its decision carried out as the shell would.
    fn reconcile(&mut self, settings: &Settings) {
        let decision = decide(&self.app, &self.observed(), self.now, settings);
        self.apply(decision, settings);
    }

    fn apply(&mut self, decision: Decision, settings: &Settings) {
        if let Some(status) = decision.status {
            self.app.status = Some(status);
        }
        for action in decision.actions {
            match action {
                Action::RecordSpecHash(hash) => {
                    self.app
                        .metadata
                        .annotations
                        .get_or_insert_with(BTreeMap::new)
                        .insert(SPEC_HASH_ANNOTATION.into(), hash);
                }
                Action::Submit { attempt } => match plan(&self.app, attempt, self.now, settings) {
                    Ok(plan) => {
                        self.driver = Some(PodObs {
                            name: plan.driver_pod_name.clone(),
                            uid: Some(format!("pod-{attempt}")),
                            submission_id: Some(plan.submission_id.clone()),
                            phase: PodPhase::Pending,
                            terminated: None,
                            message: None,
                            deleting: false,
                        });
                        let done = submitted(
                            &self.app,
                            &plan,
                            attempt,
                            &UiService::default(),
                            self.now,
                            settings,
                        );
                        self.apply(done, settings);
                    }
                    Err(failed) => self.apply(*failed, settings),
                },
                Action::DeleteRun(_) => self.driver = None,
                Action::DeleteApplication => self.deleted = true,
            }
        }
    }
}

fn state(app: &SparkApplication) -> S {
    app.status
        .as_ref()
        .map_or(S::New, |s| s.application_state.state)
}

fn counters(app: &SparkApplication) -> (i32, i32) {
    let status = app.status.clone().unwrap_or_default();
    (
        status.submission_attempts.unwrap_or(0),
        status.execution_attempts.unwrap_or(0),
    )
}

fn condition(app: &SparkApplication, kind: &str) -> Option<bool> {
    app.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status == "True")
}

/// Runs `steps` from a new application; the first broken property, if any.
fn history_holds(policy: RestartPolicyType, retries: i32, steps: &[Step]) -> Result<(), String> {
    let settings = Settings::default();
    let mut world = World {
        app: app(policy, retries),
        driver: None,
        now: Timestamp::from_second(1_800_000_000).map_err(|e| e.to_string())?,
        deleted: false,
    };
    world.reconcile(&settings);
    for (i, step) in steps.iter().enumerate() {
        if world.deleted {
            break;
        }
        let before = state(&world.app);
        let counted = counters(&world.app);
        let edited = world.happen(step);
        // Twice: a decision's own follow-up (a requeue at once) is part of the same moment.
        world.reconcile(&settings);
        world.reconcile(&settings);
        let after = state(&world.app);
        let at = format!("step {i} {step:?}: {before:?} -> {after:?}");
        let now_counted = counters(&world.app);
        if now_counted.0 < counted.0 || now_counted.1 < counted.1 {
            return Err(format!(
                "{at}: attempts went down {counted:?} -> {now_counted:?}"
            ));
        }
        if is_terminal(before) && !edited && after != before {
            return Err(format!("{at}: left a terminal state without a spec change"));
        }
        let status = world.app.status.clone().unwrap_or_default();
        if is_terminal(after) && status.termination_time.is_none() {
            return Err(format!("{at}: terminal without a termination time"));
        }
        if after != S::New {
            for (kind, holds) in [
                (conditions::COMPLETED, after == S::Completed),
                (conditions::FAILED, after == S::Failed),
                (conditions::SUSPENDED, after == S::Suspended),
            ] {
                if condition(&world.app, kind) != Some(holds) {
                    return Err(format!(
                        "{at}: condition {kind} is {:?} in {after:?}",
                        condition(&world.app, kind)
                    ));
                }
            }
            if after == S::Running && condition(&world.app, conditions::RUNNING) != Some(true) {
                return Err(format!("{at}: Running condition not true while RUNNING"));
            }
        }
        if matches!(after, S::Submitted | S::Running)
            && let Some(driver) = &world.driver
            && driver.submission_id != status.submission_id
        {
            return Err(format!(
                "{at}: tracking a driver of another submission ({:?} vs {:?})",
                driver.submission_id, status.submission_id
            ));
        }
    }
    Ok(())
}

#[test]
fn any_history_keeps_counters_terminal_states_and_conditions_sound() {
    let strategy = (
        prop::sample::select(vec![
            RestartPolicyType::Never,
            RestartPolicyType::OnFailure,
            RestartPolicyType::Always,
        ]),
        0i32..3,
        prop::collection::vec(step(), 1..40),
    );
    let mut runner = TestRunner::new(Config::with_cases(400));
    let outcome = runner.run(&strategy, |(policy, retries, steps)| {
        history_holds(policy, retries, &steps).map_err(TestCaseError::fail)
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
