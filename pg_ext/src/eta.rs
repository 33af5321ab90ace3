//! The calibrated ETA (SPEC §12): an 80% prediction interval for the wait until a patient is
//! called, from the line's service times today and the rooms calling from it.
//!
//! The 0.1 rule multiplied the p25/p75 of one service by the people ahead. That is too
//! narrow for the next patient (a single service falls in its own p25–p75 half the time) and
//! too wide far back (sums of many services vary relatively less). Here the wait is the sum
//! of the services ahead, approximated by a log-normal with the sum's mean and variance
//! (Fenton–Wilkinson), so both ends come out right, and the uncertainty of a mean learned
//! from few samples widens the range early in the day.

use pgrx::prelude::*;

/// The share of patients whose wait should fall inside the range: its 10th and 90th
/// percentiles, z = Φ⁻¹(0.9).
const Z_80: f64 = 1.281_551_565_545;

/// The clinic's configured range stands in for this many samples before the day has its own.
const PRIOR_WEIGHT: f64 = 5.0;

/// The p25–p75 of a normal variable, in standard deviations (2 × Φ⁻¹(0.75)).
const IQR_SDS: f64 = 1.348_979_500_392;

/// One patient's service time, in minutes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServiceModel {
    pub mean: f64,
    pub var: f64,
    /// Samples behind the estimate, the prior's weight included.
    pub weight: f64,
}

impl ServiceModel {
    /// A log-normal whose p25 and p75 are the clinic's `eta_min_minutes` / `eta_max_minutes`.
    pub fn prior(eta_min: i32, eta_max: i32) -> ServiceModel {
        let lo = f64::from(eta_min.max(1));
        let hi = f64::from(eta_max.max(eta_min).max(1));
        let mu = (lo.ln() + hi.ln()) / 2.0;
        let sigma = ((hi.ln() - lo.ln()) / IQR_SDS).max(0.1);
        let s2 = sigma * sigma;
        ServiceModel {
            mean: (mu + s2 / 2.0).exp(),
            var: (s2.exp() - 1.0) * (2.0 * mu + s2).exp(),
            weight: PRIOR_WEIGHT,
        }
    }

    /// The day's samples (`samples` durations with this mean and standard deviation, in
    /// seconds) blended with the prior as a mixture with the prior weighing `PRIOR_WEIGHT`.
    pub fn learned(
        prior: ServiceModel,
        mean_seconds: Option<f64>,
        sd_seconds: Option<f64>,
        samples: i32,
    ) -> ServiceModel {
        let (Some(mean_s), Some(sd_s)) = (mean_seconds, sd_seconds) else { return prior };
        if samples <= 0 {
            return prior;
        }
        let k = f64::from(samples);
        let (m, v) = (mean_s / 60.0, (sd_s / 60.0).powi(2));
        let w = k / (k + prior.weight);
        let mean = w * m + (1.0 - w) * prior.mean;
        let second = w * (v + m * m) + (1.0 - w) * (prior.var + prior.mean * prior.mean);
        ServiceModel { mean, var: (second - mean * mean).max(0.0), weight: k + prior.weight }
    }

    /// From raw durations in milliseconds (the pure SQL form and the tests).
    pub fn from_samples(prior: ServiceModel, ms: &[i32]) -> ServiceModel {
        let (mean, sd) = mean_sd_seconds(ms);
        ServiceModel::learned(prior, mean, sd, ms.len() as i32)
    }

    /// The range for someone with `people_ahead` before them in a line `rooms` rooms call
    /// from, in whole minutes (rounded down / up). Nobody ahead: 0–0.
    pub fn interval(&self, people_ahead: i32, rooms: i32) -> (i32, i32) {
        if people_ahead <= 0 || self.mean <= 0.0 {
            return (0, 0);
        }
        let n = f64::from(people_ahead);
        let c = f64::from(rooms.max(1));
        let mean = n * self.mean / c;
        // The services' own spread, and the spread of a mean learned from `weight` samples,
        // which every one of the n services shares.
        let var = n * self.var / (c * c) + n * n * self.var / (self.weight * c * c);
        let s2 = (1.0 + var / (mean * mean)).ln();
        let (mu, s) = (mean.ln() - s2 / 2.0, s2.sqrt());
        let lo = (mu - Z_80 * s).exp().floor();
        let hi = (mu + Z_80 * s).exp().ceil().max(lo + 1.0);
        (clamp_minutes(lo), clamp_minutes(hi))
    }
}

/// Mean and sample standard deviation in seconds, once there are 5 samples.
pub fn mean_sd_seconds(ms: &[i32]) -> (Option<f64>, Option<f64>) {
    if ms.len() < 5 {
        return (None, None);
    }
    let n = ms.len() as f64;
    let mean = ms.iter().map(|m| f64::from(*m)).sum::<f64>() / n;
    let var = ms.iter().map(|m| (f64::from(*m) - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (Some(mean / 1000.0), Some(var.sqrt() / 1000.0))
}

fn clamp_minutes(m: f64) -> i32 {
    m.clamp(0.0, 100_000.0) as i32
}

/// What is still to run of a delay of `minutes` announced `since_minutes` ago (whole minutes,
/// rounded up, never below 0).
pub fn delay_left(minutes: Option<i32>, elapsed_seconds: Option<f64>) -> Option<i32> {
    let minutes = minutes?;
    let elapsed = elapsed_seconds.unwrap_or(0.0).max(0.0);
    Some(((f64::from(minutes) * 60.0 - elapsed) / 60.0).ceil().max(0.0) as i32)
}

/// The calibrated ETA as a pure function: `people_ahead` before the patient, `rooms` calling
/// from the line, the day's service durations (ms), the clinic's configured range and the
/// delay still to run.
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
pub fn eta_interval(
    people_ahead: i32,
    rooms: i32,
    service_ms: Vec<Option<i32>>,
    eta_min: i32,
    eta_max: i32,
    delay_minutes: default!(i32, 0),
) -> TableIterator<'static, (name!(eta_min_minutes, i32), name!(eta_max_minutes, i32))> {
    let ms: Vec<i32> = service_ms.into_iter().flatten().collect();
    let model = ServiceModel::from_samples(ServiceModel::prior(eta_min, eta_max), &ms);
    let (lo, hi) = model.interval(people_ahead, rooms);
    let d = delay_minutes.max(0);
    TableIterator::once((lo + d, hi + d))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn the_prior_has_the_configured_quartiles_as_its_quartiles() {
        let p = ServiceModel::prior(6, 15);
        // A log-normal's median is exp(mu): the geometric mean of 6 and 15.
        let s2 = (1.0 + p.var / (p.mean * p.mean)).ln();
        let median = (p.mean.ln() - s2 / 2.0).exp();
        assert!((median - (6.0f64 * 15.0).sqrt()).abs() < 1e-9, "{median}");
    }

    #[test]
    fn nobody_ahead_waits_nothing() {
        assert_eq!(ServiceModel::prior(6, 15).interval(0, 1), (0, 0));
    }

    #[test]
    fn one_ahead_spans_more_than_the_quartiles_of_one_service() {
        let (lo, hi) = ServiceModel::prior(6, 15).interval(1, 1);
        assert!(lo < 6 && hi > 15, "{lo}-{hi}");
    }

    #[test]
    fn far_back_the_range_is_narrower_than_n_times_the_quartiles() {
        let samples =
            vec![9 * 60_000; 100].iter().enumerate().map(|(i, m)| m + (i as i32 % 7 - 3) * 60_000).collect::<Vec<_>>();
        let model = ServiceModel::from_samples(ServiceModel::prior(6, 15), &samples);
        let (lo, hi) = model.interval(20, 1);
        assert!(lo > 20 * 6 && hi < 20 * 12, "{lo}-{hi}");
        assert!(lo < 20 * 9 && hi > 20 * 9, "{lo}-{hi}");
    }

    #[test]
    fn rooms_divide_the_wait() {
        let m = ServiceModel::prior(6, 15);
        let (one, two) = (m.interval(10, 1), m.interval(10, 2));
        assert!(two.0 * 2 <= one.0 + 2 && two.1 < one.1, "{one:?} {two:?}");
    }

    #[test]
    fn the_day_outweighs_the_prior_as_samples_come() {
        let prior = ServiceModel::prior(6, 15);
        let fast = vec![2 * 60_000; 50];
        let m = ServiceModel::from_samples(prior, &fast);
        assert!(m.mean < 3.0, "{}", m.mean);
        assert_eq!(ServiceModel::from_samples(prior, &fast[..4]), prior);
    }

    #[test]
    fn delays_run_down() {
        assert_eq!(delay_left(Some(30), Some(0.0)), Some(30));
        assert_eq!(delay_left(Some(30), Some(61.0)), Some(29));
        assert_eq!(delay_left(Some(30), Some(3600.0)), Some(0));
        assert_eq!(delay_left(None, Some(1.0)), None);
    }
}
