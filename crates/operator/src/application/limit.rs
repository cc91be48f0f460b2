//! How many submissions run at once: a fixed number, or one that follows the API server's latency
//! (additive increase while driver creations answer within the target, multiplicative decrease when
//! they answer slower or the server pushes back), so that a burst uses what the API server has to
//! give without drowning it. The rule is plain arithmetic; the gate applies it to tasks.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// A submission's outcome as the limit sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The API server answered, taking this long.
    Answered(Duration),
    /// It pushed back or did not answer (429, 5xx, a timeout): back off.
    Overloaded,
}

/// Additive increase, multiplicative decrease of a concurrency limit.
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: f64,
    min: f64,
    max: f64,
    target: Duration,
    /// Answers since the limit was last lowered: it is lowered at most once a round (a limit's
    /// worth of answers), since the answers of one round all saw the same load.
    since_decrease: f64,
}

/// Where an adaptive limit starts: a burst needs a fair number of submissions at once from its first
/// round, and a slow API server brings it down within a few rounds.
const START: f64 = 16.0;

impl Aimd {
    pub fn new(min: usize, max: usize, target: Duration) -> Aimd {
        let min = min.max(1) as f64;
        let max = (max as f64).max(min);
        Aimd {
            limit: START.clamp(min, max),
            min,
            max,
            target,
            since_decrease: f64::INFINITY,
        }
    }

    /// A limit that never moves.
    pub fn fixed(limit: usize) -> Aimd {
        Aimd::new(limit, limit, Duration::MAX)
    }

    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    pub fn record(&mut self, outcome: Outcome) {
        self.since_decrease += 1.0;
        let once_a_round = self.since_decrease >= self.limit;
        self.limit = match outcome {
            // One more slot per limit's worth of fast answers: about +1 per round trip.
            Outcome::Answered(latency) if latency <= self.target => self.limit + 1.0 / self.limit,
            Outcome::Answered(_) if once_a_round => {
                self.since_decrease = 0.0;
                self.limit * 0.9
            }
            Outcome::Overloaded if once_a_round => {
                self.since_decrease = 0.0;
                self.limit * 0.5
            }
            Outcome::Answered(_) | Outcome::Overloaded => self.limit,
        }
        .clamp(self.min, self.max);
    }
}

/// Lets at most the current limit of tasks through at once.
pub struct Gate {
    state: Mutex<(Aimd, usize)>,
    freed: Notify,
}

/// A place taken in the gate; give it back with [`Gate::leave`].
#[must_use]
pub struct Pass(());

impl Gate {
    pub fn new(rule: Aimd) -> Gate {
        Gate {
            state: Mutex::new((rule, 0)),
            freed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (Aimd, usize)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place under the limit.
    pub async fn enter(&self) -> Pass {
        loop {
            let freed = self.freed.notified();
            {
                let mut state = self.state();
                if state.1 < state.0.limit() {
                    state.1 += 1;
                    return Pass(());
                }
            }
            freed.await;
        }
    }

    /// Gives a place back, with the outcome of what was done in it.
    pub fn leave(&self, pass: Pass, outcome: Outcome) {
        let Pass(()) = pass;
        let mut state = self.state();
        state.1 = state.1.saturating_sub(1);
        state.0.record(outcome);
        drop(state);
        self.freed.notify_waiters();
    }

    /// The limit now, and how many are inside.
    pub fn load(&self) -> (usize, usize) {
        let state = self.state();
        (state.0.limit(), state.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn fast_answers_raise_the_limit_about_one_per_round() {
        let mut rule = Aimd::new(4, 64, 100 * MS);
        assert_eq!(rule.limit(), 16, "it starts at 16");
        for _ in 0..15 {
            rule.record(Outcome::Answered(10 * MS));
        }
        assert_eq!(
            rule.limit(),
            16,
            "15 answers at limit 16 are not yet a round"
        );
        rule.record(Outcome::Answered(10 * MS));
        rule.record(Outcome::Answered(10 * MS));
        assert_eq!(rule.limit(), 17);
        for _ in 0..10_000 {
            rule.record(Outcome::Answered(10 * MS));
        }
        assert_eq!(rule.limit(), 64, "never above the maximum");
        assert_eq!(
            Aimd::new(1, 8, MS).limit(),
            8,
            "the start is within the bounds"
        );
    }

    #[test]
    fn slow_answers_and_push_back_lower_it_once_a_round_down_to_the_minimum() {
        let mut rule = Aimd::new(4, 64, 100 * MS);
        for _ in 0..10_000 {
            rule.record(Outcome::Answered(MS));
        }
        rule.record(Outcome::Overloaded);
        assert_eq!(rule.limit(), 32);
        rule.record(Outcome::Answered(500 * MS));
        assert_eq!(
            rule.limit(),
            32,
            "once a round: the answers in flight saw the same load"
        );
        for _ in 0..31 {
            rule.record(Outcome::Answered(500 * MS));
        }
        assert_eq!(rule.limit(), 28, "a round later, a slow answer lowers it");
        for _ in 0..1000 {
            rule.record(Outcome::Overloaded);
        }
        assert_eq!(rule.limit(), 4);
    }

    #[test]
    fn a_fixed_limit_stays() {
        let mut rule = Aimd::fixed(8);
        rule.record(Outcome::Overloaded);
        rule.record(Outcome::Answered(Duration::from_secs(60)));
        rule.record(Outcome::Answered(MS));
        assert_eq!(rule.limit(), 8);
    }

    #[tokio::test]
    async fn the_gate_holds_at_most_the_limit() {
        let gate = std::sync::Arc::new(Gate::new(Aimd::fixed(2)));
        let a = gate.enter().await;
        let b = gate.enter().await;
        assert_eq!(gate.load(), (2, 2));
        let third = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let pass = gate.enter().await;
                gate.leave(pass, Outcome::Answered(MS));
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "a third waits while two are inside");
        gate.leave(a, Outcome::Answered(MS));
        tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("the third got in once one left")
            .expect("task");
        gate.leave(b, Outcome::Answered(MS));
        assert_eq!(gate.load(), (2, 0));
    }
}
