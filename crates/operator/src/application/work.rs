//! The tracking queue: applications that asked to be reconciled, taken in the order they asked, each
//! at most once whether waiting or being reconciled (asked again meanwhile, it goes to the back of the
//! line when its reconcile ends), and reconciles asked for later kept by their time. Plain data and a
//! wake-up: no I/O, time is passed in.
//!
//! Why not kube-runtime's own runner: while all its workers are busy it keeps further requests in a
//! hash set and takes the next in hash order, so under a backlog an unlucky application waited
//! minutes for its status (docs/benchmarks.md, the run of 2026-12-04).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::Notify;

use super::queue::AppKey;

/// Room the line keeps once empty.
const IDLE_CAPACITY: usize = 256;

#[derive(Default)]
struct Line {
    /// Waiting to be reconciled, oldest request first.
    ready: VecDeque<AppKey>,
    /// The keys in `ready`.
    queued: HashSet<AppKey>,
    /// Being reconciled; `true` when asked again meanwhile.
    running: HashMap<AppKey, bool>,
    /// Reconciles asked for later, by time then order of asking; one per application (the earliest).
    later: BTreeMap<(Instant, u64), AppKey>,
    due: HashMap<AppKey, (Instant, u64)>,
    next_seq: u64,
    closed: bool,
}

impl Line {
    /// Puts `key` at the back of the line unless it waits already; a running key is marked to run again.
    fn ask(&mut self, key: AppKey) -> bool {
        if let Some(again) = self.running.get_mut(&key) {
            *again = true;
            return false;
        }
        if self.queued.contains(&key) {
            return false;
        }
        // Running now supersedes running later; the reconcile says again when it wants the next look.
        if let Some(at) = self.due.remove(&key) {
            self.later.remove(&at);
        }
        self.queued.insert(key.clone());
        self.ready.push_back(key);
        true
    }
}

/// Applications waiting for a tracking reconcile, in the order they asked.
#[derive(Default)]
pub struct TrackQueue {
    line: Mutex<Line>,
    /// A key became ready, or the queue closed.
    ready: Notify,
    /// The earliest later reconcile may have changed.
    timers: Notify,
    /// The line is no longer than `behind` (or the queue closed).
    caught_up: Notify,
    /// How many may wait before tracking counts as behind.
    behind: usize,
}

impl TrackQueue {
    /// A queue that counts as behind while more than `behind` applications wait.
    pub fn new(behind: usize) -> Self {
        TrackQueue {
            behind,
            ..TrackQueue::default()
        }
    }

    fn line(&self) -> std::sync::MutexGuard<'_, Line> {
        // A poisoned lock only means another thread panicked mid-update; the line is still usable.
        self.line.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for a reconcile of `key` now. Returns whether it joined the line.
    pub fn ask(&self, key: AppKey) -> bool {
        let added = self.line().ask(key);
        if added {
            self.ready.notify_one();
        }
        added
    }

    /// Asks for a reconcile of `key` at `at` (the earliest of several asks wins; one that waits in
    /// line already needs none).
    pub fn ask_at(&self, key: AppKey, at: Instant) {
        let mut line = self.line();
        if line.queued.contains(&key) {
            return;
        }
        if let Some(&(current, seq)) = line.due.get(&key) {
            if current <= at {
                return;
            }
            line.later.remove(&(current, seq));
        }
        let seq = line.next_seq;
        line.next_seq += 1;
        line.later.insert((at, seq), key.clone());
        line.due.insert(key, (at, seq));
        drop(line);
        self.timers.notify_one();
    }

    /// Moves every reconcile due by `now` into the line, in time order. Returns when the next one is due.
    pub fn promote_due(&self, now: Instant) -> Option<Instant> {
        let mut line = self.line();
        let mut promoted = 0;
        while let Some(entry) = line.later.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            line.due.remove(&key);
            if line.ask(key) {
                promoted += 1;
            }
        }
        let next = line.later.first_key_value().map(|((at, _), _)| *at);
        drop(line);
        for _ in 0..promoted {
            self.ready.notify_one();
        }
        next
    }

    /// Waits until a later reconcile may have been added before the time the timer sleeps to.
    pub async fn timers_changed(&self) {
        self.timers.notified().await
    }

    /// Takes the oldest waiting key, now running, if any.
    pub fn try_take(&self) -> Option<AppKey> {
        let mut line = self.line();
        let key = line.ready.pop_front()?;
        line.queued.remove(&key);
        if line.ready.is_empty() && line.ready.capacity() > IDLE_CAPACITY {
            // A burst is over: give back what its backlog took.
            line.ready.shrink_to(IDLE_CAPACITY);
            line.queued.shrink_to(IDLE_CAPACITY);
        }
        if line.ready.len() <= self.behind {
            self.caught_up.notify_waiters();
        }
        line.running.insert(key.clone(), false);
        Some(key)
    }

    /// Waits for the oldest waiting key and takes it; `None` once the queue is closed.
    pub async fn take(&self) -> Option<AppKey> {
        loop {
            // Registered before looking, so that an ask between the look and the wait is not missed.
            let notified = self.ready.notified();
            if self.line().closed {
                return None;
            }
            if let Some(key) = self.try_take() {
                return Some(key);
            }
            notified.await;
        }
    }

    /// Waits while tracking is behind: more than `behind` applications wait for a worker. New
    /// submissions wait on it, so that under a saturated API server the writes that follow running
    /// applications (status, retries) go before the writes that start more of them.
    pub async fn caught_up(&self) {
        loop {
            // Registered before looking, so that a take between the look and the wait is not missed.
            let notified = self.caught_up.notified();
            {
                let line = self.line();
                if line.closed || line.ready.len() <= self.behind {
                    return;
                }
            }
            notified.await;
        }
    }

    /// The reconcile of `key` ended: asked again meanwhile, it joins the back of the line.
    pub fn done(&self, key: &AppKey) {
        let mut line = self.line();
        if line.running.remove(key) == Some(true) && line.ask(key.clone()) {
            drop(line);
            self.ready.notify_one();
        }
    }

    /// Forgets later reconciles of `key` (it left the cache).
    pub fn forget(&self, key: &AppKey) {
        let mut line = self.line();
        if let Some(at) = line.due.remove(key) {
            line.later.remove(&at);
        }
    }

    /// Stops handing out keys: every waiting `take` returns `None`.
    pub fn close(&self) {
        self.line().closed = true;
        self.ready.notify_waiters();
        self.caught_up.notify_waiters();
    }

    /// How many applications wait in line (not counting those running or asked for later).
    pub fn waiting(&self) -> usize {
        self.line().ready.len()
    }

    /// How many reconciles are asked for later.
    #[cfg(test)]
    fn scheduled(&self) -> usize {
        self.line().later.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(name: &str) -> AppKey {
        ("ns".into(), name.into())
    }

    fn drain(queue: &TrackQueue) -> Vec<String> {
        std::iter::from_fn(|| queue.try_take())
            .map(|k| k.1)
            .collect()
    }

    #[test]
    fn a_backlog_is_taken_in_the_order_it_asked() {
        // Under a backlog every worker is busy and thousands of applications ask; each must come in
        // its turn, not in an order of the queue's own making.
        let queue = TrackQueue::default();
        let names: Vec<String> = (0..2000)
            .map(|i| format!("app-{}", (i * 7919) % 2000))
            .collect();
        for name in &names {
            queue.ask(key(name));
        }
        assert_eq!(drain(&queue), names);
    }

    #[test]
    fn a_key_waits_once_and_one_asked_while_running_goes_to_the_back() {
        let queue = TrackQueue::default();
        assert!(queue.ask(key("a")));
        assert!(queue.ask(key("b")));
        assert!(!queue.ask(key("a")), "already waiting");
        assert_eq!(queue.waiting(), 2);
        assert_eq!(queue.try_take(), Some(key("a")));
        assert!(!queue.ask(key("a")), "running: marked, not queued twice");
        assert!(queue.ask(key("c")));
        assert_eq!(queue.try_take(), Some(key("b")));
        queue.done(&key("a"));
        queue.done(&key("b"));
        assert_eq!(drain(&queue), ["c", "a"], "a asked again after c");
    }

    #[test]
    fn later_reconciles_come_due_in_time_order_and_the_earliest_ask_wins() {
        let queue = TrackQueue::default();
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        queue.ask_at(key("late"), t0 + 3 * s);
        queue.ask_at(key("soon"), t0 + 2 * s);
        queue.ask_at(key("late"), t0 + s);
        queue.ask_at(key("soon"), t0 + 5 * s);
        assert_eq!(queue.scheduled(), 2, "one entry per application");
        assert_eq!(queue.promote_due(t0), Some(t0 + s));
        assert!(drain(&queue).is_empty());
        assert_eq!(queue.promote_due(t0 + s), Some(t0 + 2 * s));
        assert_eq!(drain(&queue), ["late"]);
        assert_eq!(queue.promote_due(t0 + 10 * s), None);
        assert_eq!(drain(&queue), ["soon"]);
    }

    #[test]
    fn asking_now_cancels_a_later_reconcile_and_forget_drops_one() {
        let queue = TrackQueue::default();
        let t0 = Instant::now();
        queue.ask_at(key("a"), t0 + Duration::from_secs(1));
        queue.ask(key("a"));
        assert_eq!(queue.scheduled(), 0);
        queue.ask_at(key("b"), t0 + Duration::from_secs(1));
        queue.forget(&key("b"));
        assert_eq!(queue.promote_due(t0 + Duration::from_secs(2)), None);
        assert_eq!(drain(&queue), ["a"]);
    }

    #[tokio::test]
    async fn caught_up_waits_while_more_than_the_threshold_wait() {
        let queue = std::sync::Arc::new(TrackQueue::new(2));
        for name in ["a", "b", "c", "d"] {
            queue.ask(key(name));
        }
        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.caught_up().await })
        };
        tokio::task::yield_now().await;
        assert_eq!(queue.try_take(), Some(key("a")));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "three still wait: behind");
        assert_eq!(queue.try_take(), Some(key("b")));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("two wait: caught up")
            .expect("task");
        // Not behind: returns at once.
        tokio::time::timeout(Duration::from_secs(5), queue.caught_up())
            .await
            .expect("caught up");
    }

    #[tokio::test]
    async fn take_waits_for_an_ask_and_close_ends_it() {
        let queue = std::sync::Arc::new(TrackQueue::default());
        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.take().await })
        };
        tokio::task::yield_now().await;
        queue.ask(key("late"));
        let taken = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("take woke up")
            .expect("task");
        assert_eq!(taken, Some(key("late")));

        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.take().await })
        };
        tokio::task::yield_now().await;
        queue.close();
        let taken = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("close woke it")
            .expect("task");
        assert_eq!(taken, None);
    }
}
