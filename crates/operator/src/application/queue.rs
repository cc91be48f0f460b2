//! The submission queue: applications waiting for their driver to be created, in the order they were
//! created (a burst is submitted first come, first served), each at most once, whether waiting or
//! being submitted. Plain data and a wake-up: no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use jiff::Timestamp;
use tokio::sync::Notify;

/// An application, as (namespace, name).
pub type AppKey = (String, String);

/// Where an application stands in line: its creation time, then the order the operator first saw it
/// (creation times have a resolution of one second).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    created: Timestamp,
    seen: u64,
}

#[derive(Default)]
struct Line {
    waiting: BTreeMap<Place, AppKey>,
    places: HashMap<AppKey, Place>,
    submitting: HashSet<AppKey>,
    next_seen: u64,
}

/// Applications waiting for submission, oldest first.
#[derive(Default)]
pub struct SubmitQueue {
    line: Mutex<Line>,
    wake: Notify,
}

impl SubmitQueue {
    fn line(&self) -> std::sync::MutexGuard<'_, Line> {
        // A poisoned lock only means another thread panicked mid-update; the line is still usable.
        self.line.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `app`, created at `created`, in line; an application already waiting or being submitted
    /// keeps its place. Returns whether it was added.
    pub fn push(&self, app: AppKey, created: Timestamp) -> bool {
        let mut line = self.line();
        if line.places.contains_key(&app) || line.submitting.contains(&app) {
            return false;
        }
        let place = Place {
            created,
            seen: line.next_seen,
        };
        line.next_seen += 1;
        line.places.insert(app.clone(), place);
        line.waiting.insert(place, app);
        drop(line);
        self.wake.notify_one();
        true
    }

    /// Takes the oldest waiting application, now being submitted, if any.
    pub fn try_pop(&self) -> Option<AppKey> {
        let mut line = self.line();
        let (_, app) = line.waiting.pop_first()?;
        line.places.remove(&app);
        line.submitting.insert(app.clone());
        Some(app)
    }

    /// Waits for the oldest waiting application and takes it.
    pub async fn pop(&self) -> AppKey {
        loop {
            // Registered before looking, so that a push between the look and the wait is not missed.
            let notified = self.wake.notified();
            if let Some(app) = self.try_pop() {
                return app;
            }
            notified.await;
        }
    }

    /// The submission of `app` is over (done, refused or given up): it may be queued again.
    pub fn done(&self, app: &AppKey) {
        self.line().submitting.remove(app);
    }

    /// Takes `app` out of line (deleted, or no longer to be submitted).
    pub fn remove(&self, app: &AppKey) {
        let mut line = self.line();
        if let Some(place) = line.places.remove(app) {
            line.waiting.remove(&place);
        }
    }

    /// Whether `app` waits or is being submitted: its status is then the submitter's to write.
    pub fn holds(&self, app: &AppKey) -> bool {
        let line = self.line();
        line.places.contains_key(app) || line.submitting.contains(app)
    }

    /// How many applications wait (not counting those being submitted).
    pub fn waiting(&self) -> usize {
        self.line().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> AppKey {
        ("ns".into(), name.into())
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("timestamp")
    }

    #[test]
    fn oldest_first_and_first_seen_first_within_a_second() {
        let queue = SubmitQueue::default();
        assert!(queue.push(key("c"), at(2)));
        assert!(queue.push(key("b"), at(1)));
        assert!(queue.push(key("a"), at(1)));
        assert!(queue.push(key("d"), at(0)));
        let order: Vec<String> = std::iter::from_fn(|| queue.try_pop())
            .map(|k| k.1)
            .collect();
        assert_eq!(order, ["d", "b", "a", "c"]);
    }

    #[test]
    fn an_application_is_in_line_once_while_waiting_or_being_submitted() {
        let queue = SubmitQueue::default();
        assert!(queue.push(key("a"), at(5)));
        assert!(
            !queue.push(key("a"), at(0)),
            "a second push keeps the first place"
        );
        assert_eq!(queue.waiting(), 1);
        assert_eq!(queue.try_pop(), Some(key("a")));
        assert!(queue.holds(&key("a")));
        assert!(
            !queue.push(key("a"), at(5)),
            "not queued while being submitted"
        );
        assert_eq!(queue.try_pop(), None);
        queue.done(&key("a"));
        assert!(!queue.holds(&key("a")));
        assert!(queue.push(key("a"), at(5)), "queued again once done");
    }

    #[test]
    fn a_removed_application_leaves_the_line() {
        let queue = SubmitQueue::default();
        queue.push(key("a"), at(1));
        queue.push(key("b"), at(2));
        queue.remove(&key("a"));
        assert!(!queue.holds(&key("a")));
        assert_eq!(queue.try_pop(), Some(key("b")));
        assert_eq!(queue.try_pop(), None);
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let queue = std::sync::Arc::new(SubmitQueue::default());
        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.pop().await })
        };
        tokio::task::yield_now().await;
        queue.push(key("late"), at(0));
        let popped = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("pop woke up")
            .expect("task");
        assert_eq!(popped, key("late"));
    }
}
