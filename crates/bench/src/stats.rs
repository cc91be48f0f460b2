//! Percentiles, rates and per-second timelines: the arithmetic behind every figure, with no I/O.

use serde::{Deserialize, Serialize};

/// The distribution of a set of durations (milliseconds), nearest-rank percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: usize,
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// `None` for an empty set: a figure with no samples is not measured, not zero.
    pub fn of(values: &[f64]) -> Option<Percentiles> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(Percentiles {
            count: sorted.len(),
            min: sorted[0],
            p50: nearest_rank(&sorted, 0.50),
            p95: nearest_rank(&sorted, 0.95),
            p99: nearest_rank(&sorted, 0.99),
            max: sorted[sorted.len() - 1],
        })
    }
}

/// The smallest value with at least `quantile` of the set at or below it (`sorted` is ascending and
/// not empty).
pub fn nearest_rank(sorted: &[f64], quantile: f64) -> f64 {
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `count` events over `seconds`; `None` when the span is empty (one event has no rate).
pub fn per_second(count: usize, seconds: f64) -> Option<f64> {
    (seconds > 0.0 && count > 0).then(|| count as f64 / seconds)
}

/// How many of `times_ms` (milliseconds since the workload began) fall in each `bin_ms`-wide bin,
/// from 0 to the latest time.
pub fn histogram(times_ms: &[f64], bin_ms: f64) -> Vec<u32> {
    let bins: Vec<usize> = times_ms
        .iter()
        .filter(|t| t.is_finite() && **t >= 0.0)
        .map(|t| (t / bin_ms) as usize)
        .collect();
    let mut counts = vec![0; bins.iter().max().map_or(0, |b| b + 1)];
    for bin in bins {
        counts[bin] += 1;
    }
    counts
}

/// The running total of `times_ms`: (time, how many happened by then), one point per event, sorted.
pub fn cumulative(times_ms: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = times_ms.iter().copied().filter(|t| t.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, (i + 1) as f64))
        .collect()
}

/// The empirical distribution of `values`: (value, fraction at or below it), one point per value.
pub fn cdf(values: &[f64]) -> Vec<(f64, f64)> {
    let total = values.iter().filter(|v| v.is_finite()).count() as f64;
    cumulative(values)
        .into_iter()
        .map(|(value, n)| (value, n / total))
        .collect()
}

/// Pairwise `later - earlier` where both are known: a latency per application.
pub fn differences(earlier: &[Option<f64>], later: &[Option<f64>]) -> Vec<f64> {
    earlier
        .iter()
        .zip(later)
        .filter_map(|(a, b)| Some((*b)? - (*a)?))
        .collect()
}

/// The largest of the known values.
pub fn latest(values: &[Option<f64>]) -> Option<f64> {
    values.iter().flatten().copied().reduce(f64::max)
}

/// The smallest of the known values.
pub fn earliest(values: &[Option<f64>]) -> Option<f64> {
    values.iter().flatten().copied().reduce(f64::min)
}

/// How far one order strays from another: for the items known in both `first` and `then` (times),
/// the mean distance between an item's rank in `first` and its rank in `then`, as a fraction of the
/// number of items. 0 when `then` keeps `first`'s order; about 1/3 for an unrelated order.
pub fn mean_displacement(first: &[Option<f64>], then: &[Option<f64>]) -> Option<f64> {
    let both: Vec<(f64, f64)> = first
        .iter()
        .zip(then)
        .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
        .collect();
    if both.len() < 2 {
        return None;
    }
    let ranks = |key: fn(&(f64, f64)) -> f64| -> Vec<usize> {
        let mut order: Vec<usize> = (0..both.len()).collect();
        order.sort_by(|&i, &j| key(&both[i]).total_cmp(&key(&both[j])).then(i.cmp(&j)));
        let mut rank = vec![0; both.len()];
        for (r, i) in order.into_iter().enumerate() {
            rank[i] = r;
        }
        rank
    };
    let by_first = ranks(|p| p.0);
    let by_then = ranks(|p| p.1);
    let total: usize = by_first
        .iter()
        .zip(&by_then)
        .map(|(a, b)| a.abs_diff(*b))
        .sum();
    Some(total as f64 / both.len() as f64 / both.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displacement_is_zero_in_order_and_grows_with_disorder() {
        let created: Vec<Option<f64>> = (0..4).map(|i| Some(f64::from(i))).collect();
        let same: Vec<Option<f64>> = (0..4).map(|i| Some(10.0 + f64::from(i))).collect();
        assert_eq!(mean_displacement(&created, &same), Some(0.0));
        let reversed: Vec<Option<f64>> = (0..4).map(|i| Some(10.0 - f64::from(i))).collect();
        // Ranks 0..3 against 3..0: distances 3, 1, 1, 3 -> mean 2, over 4 items.
        assert_eq!(mean_displacement(&created, &reversed), Some(0.5));
        // Items without a driver are left out.
        let partial = vec![Some(1.0), None, Some(3.0), Some(2.0)];
        assert_eq!(
            mean_displacement(&created, &partial),
            Some((0.0 + 1.0 + 1.0) / 3.0 / 3.0)
        );
        assert_eq!(mean_displacement(&created[..1], &same[..1]), None);
    }

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::of(&values).unwrap();
        assert_eq!(
            (p.count, p.min, p.p50, p.p95, p.p99, p.max),
            (100, 1.0, 50.0, 95.0, 99.0, 100.0)
        );
    }

    #[test]
    fn percentiles_of_a_small_set_take_the_value_covering_the_quantile() {
        let p = Percentiles::of(&[30.0, 10.0, 20.0]).unwrap();
        assert_eq!((p.p50, p.p95, p.p99), (20.0, 30.0, 30.0));
        let one = Percentiles::of(&[7.0]).unwrap();
        assert_eq!((one.min, one.p50, one.p99, one.max), (7.0, 7.0, 7.0, 7.0));
    }

    #[test]
    fn percentiles_skip_non_finite_values_and_need_one_sample() {
        assert_eq!(Percentiles::of(&[]), None);
        assert_eq!(Percentiles::of(&[f64::NAN]), None);
        assert_eq!(Percentiles::of(&[f64::NAN, 4.0]).unwrap().p99, 4.0);
    }

    #[test]
    fn a_rate_needs_a_span_and_an_event() {
        assert_eq!(per_second(500, 10.0), Some(50.0));
        assert_eq!(per_second(5, 0.0), None);
        assert_eq!(per_second(0, 3.0), None);
    }

    #[test]
    fn histogram_counts_events_per_bin_including_empty_bins() {
        assert_eq!(
            histogram(&[0.0, 999.9, 1000.0, 3500.0, -1.0], 1000.0),
            vec![2, 1, 0, 1]
        );
        assert!(histogram(&[], 1000.0).is_empty());
    }

    #[test]
    fn cumulative_and_cdf_are_sorted_running_totals() {
        assert_eq!(
            cumulative(&[3.0, 1.0, 2.0]),
            vec![(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]
        );
        assert_eq!(cdf(&[20.0, 10.0]), vec![(10.0, 0.5), (20.0, 1.0)]);
    }

    #[test]
    fn differences_pair_known_times_only() {
        let sent = [Some(1.0), Some(2.0), None];
        let seen = [Some(11.0), None, Some(5.0)];
        assert_eq!(differences(&sent, &seen), vec![10.0]);
        assert_eq!(latest(&seen), Some(11.0));
        assert_eq!(earliest(&sent), Some(1.0));
        assert_eq!(latest(&[None]), None);
    }
}
