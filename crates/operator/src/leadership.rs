//! Leadership that ends on the leader's own clock. The lease manager learns that its Lease is gone
//! only from the API server: a leader cut off from it (a network partition) would go on believing
//! it leads, and whatever it retries would land after the partition heals, next to the writes of the
//! replica that took over. So a leader also watches its Lease itself and steps down once the last
//! renewal the API server holds is older than the renew deadline, a quarter of the Lease before
//! another replica may take it (as client-go's RenewDeadline does).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};

/// How long before its expiry the Lease is renewed (the lease manager's grace): half its duration,
/// rounded up, so that renewals come at most every half Lease.
pub fn renew_grace_seconds(lease_seconds: u64) -> u64 {
    lease_seconds.div_ceil(2).max(1)
}

/// How long after its last renewal a leader steps down: three quarters of the Lease, so that it
/// has stopped a quarter of the Lease before another replica can take over, and one renewal (at
/// half) may be late by a quarter without costing the leadership.
pub fn renew_deadline(lease_seconds: u64) -> Duration {
    Duration::from_secs(lease_seconds).mul_f64(0.75)
}

/// How often a leader looks at its Lease (and its clock): an eighth of the Lease, at least 250 ms.
pub fn check_period(lease_seconds: u64) -> Duration {
    Duration::from_secs(lease_seconds)
        .div_f64(8.0)
        .max(Duration::from_millis(250))
}

/// How long a leader's written request may stay unacknowledged before its connection is abandoned
/// (TCP_USER_TIMEOUT), so that none lands after another replica may take over: a leader stops
/// writing at the latest a check period after the renew deadline (7/8 of the Lease), and a tenth
/// of the Lease later what it wrote has arrived or been dropped. At least 250 ms (a lost packet is
/// retransmitted after 200 ms): Leases under 4 s trade that bound for not dropping healthy calls.
pub fn unacknowledged_write_limit(lease_seconds: u64) -> Duration {
    Duration::from_secs(lease_seconds)
        .div_f64(10.0)
        .max(Duration::from_millis(250))
}

/// What the leader concludes from a look at its Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Leading,
    /// Another replica holds the Lease, or the last renewal is too old: stop now.
    Lost(String),
}

/// `renewed`: the last renewal the API server was seen to hold (or when leadership began);
/// `holder`: who the Lease names, when it could be read.
pub fn judge(
    identity: &str,
    holder: Option<&str>,
    renewed: Timestamp,
    now: Timestamp,
    deadline: Duration,
) -> Verdict {
    if let Some(holder) = holder
        && holder != identity
    {
        return Verdict::Lost(format!("the Lease is held by {holder}"));
    }
    let age = now.duration_since(renewed);
    match jiff::SignedDuration::try_from(deadline) {
        Ok(deadline) if age < deadline => Verdict::Leading,
        _ => Verdict::Lost(format!(
            "the Lease was last renewed {:.1} s ago, past the renew deadline of {:.1} s (the API server unreachable?)",
            age.as_secs_f64(),
            deadline.as_secs_f64()
        )),
    }
}

/// Watches the Lease from the moment leadership began; returns why leadership ended.
pub async fn watch(
    client: Client,
    namespace: String,
    name: String,
    identity: String,
    lease_seconds: u64,
) -> String {
    let leases: Api<Lease> = Api::namespaced(client, &namespace);
    let deadline = renew_deadline(lease_seconds);
    let period = check_period(lease_seconds);
    let mut renewed = Timestamp::now();
    loop {
        tokio::time::sleep(period).await;
        // The clock first: a read that hangs (the API server unreachable) must not delay the verdict.
        if let Verdict::Lost(why) = judge(&identity, None, renewed, Timestamp::now(), deadline) {
            return why;
        }
        let mut holder = None;
        // An unanswered read is no news: the clock decides.
        if let Ok(Ok(lease)) = tokio::time::timeout(period / 2, leases.get(&name)).await {
            let spec = lease.spec.unwrap_or_default();
            holder = Some(spec.holder_identity.unwrap_or_default());
            if let Some(time) = spec.renew_time {
                renewed = renewed.max(time.0);
            }
        }
        if let Verdict::Lost(why) = judge(
            &identity,
            holder.as_deref(),
            renewed,
            Timestamp::now(),
            deadline,
        ) {
            return why;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("valid")
    }

    #[test]
    fn what_a_leader_wrote_has_landed_or_been_dropped_before_a_takeover() {
        for lease_seconds in [4, 15, 60, 137] {
            let lease = Duration::from_secs(lease_seconds);
            let last_write = renew_deadline(lease_seconds) + check_period(lease_seconds);
            assert!(
                last_write + unacknowledged_write_limit(lease_seconds) < lease,
                "{lease_seconds} s"
            );
        }
        assert_eq!(unacknowledged_write_limit(15), Duration::from_millis(1500));
        assert_eq!(unacknowledged_write_limit(1), Duration::from_millis(250));
    }

    #[test]
    fn a_leader_steps_down_a_quarter_lease_before_another_may_take_over() {
        let deadline = renew_deadline(16);
        assert_eq!(deadline, Duration::from_secs(12));
        assert_eq!(renew_grace_seconds(16), 8);
        assert_eq!(
            judge("me", Some("me"), at(0), at(11), deadline),
            Verdict::Leading
        );
        // Unreadable (partitioned): the last renewal seen decides.
        assert_eq!(judge("me", None, at(0), at(11), deadline), Verdict::Leading);
        assert!(matches!(
            judge("me", None, at(0), at(12), deadline),
            Verdict::Lost(_)
        ));
        assert!(matches!(
            judge("me", Some("me"), at(0), at(13), deadline),
            Verdict::Lost(_)
        ));
    }

    #[test]
    fn another_holder_ends_leadership_at_once() {
        let verdict = judge("me", Some("other"), at(0), at(1), renew_deadline(15));
        assert_eq!(verdict, Verdict::Lost("the Lease is held by other".into()));
    }

    #[test]
    fn short_leases_keep_sane_timings() {
        assert_eq!(renew_grace_seconds(2), 1);
        assert_eq!(renew_grace_seconds(3), 2);
        assert_eq!(renew_deadline(2), Duration::from_millis(1500));
    }
}
