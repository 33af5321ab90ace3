//! The calibrated ETA (SPEC §12): an 80% prediction interval for the wait until a patient is
//! called, from the line's service times today and the rooms calling from it.
//!
//! The 0.1 rule multiplied the p25/p75 of one service by the people ahead. That is too
//! narrow for the next patient (a single service falls in its own p25–p75 half the time) and
//! too wide far back (sums of many services vary relatively less). Here the wait is the sum
//! of the services ahead, approximated by a log-normal with the sum's mean and variance
//! (Fenton–Wilkinson), so both ends come out right, and the uncertainty of a mean learned
//! from few samples widens the range early in the day.
//!
//! Two facts of the line now sharpen it (`LineNow`). A patient in service counts by what is
//! left of their service given how long it has run (the log-normal conditioned on the elapsed
//! time), not as a whole service: for the next patient that is most of the wait. And some of
//! the people waiting ahead will leave without taking the doctor's time (skipped when not
//! there, cancelled, gone past their hold): the day's share of them, learned like the service
//! time against a prior of none, thins the services ahead.

use crate::db;
use crate::error::QResult;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::Uuid;

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
    /// from, each ahead counted as a whole service, in whole minutes (rounded down / up).
    /// Nobody ahead: 0–0.
    #[cfg(test)]
    pub fn interval(&self, people_ahead: i32, rooms: i32) -> (i32, i32) {
        self.wait(people_ahead, &LineNow::default(), rooms)
    }

    /// The range for someone with `people_ahead` before them, of whom those in service have
    /// been in for `line.in_service_minutes`, the rest waiting and thinned by the day's share
    /// of patients passed over.
    pub fn wait(&self, people_ahead: i32, line: &LineNow, rooms: i32) -> (i32, i32) {
        if people_ahead <= 0 || self.mean <= 0.0 {
            return (0, 0);
        }
        let in_service = line.in_service_minutes.iter().take(people_ahead as usize);
        let (mut mean, mut var) = in_service.clone().fold((0.0, 0.0), |(m, v), e| {
            let (rm, rv) = self.remainder(*e);
            (m + rm, v + rv)
        });
        let waiting = f64::from(people_ahead) - in_service.count() as f64;
        // A waiting patient takes a whole service with probability q, none otherwise.
        let q = 1.0 - line.passed_over_share();
        let (m, second) = (q * self.mean, q * (self.var + self.mean * self.mean));
        let services = mean / self.mean + waiting * q;
        // The services' own spread, and the spread of a mean learned from `weight` samples,
        // which all of the services ahead share (what is left of those under way included).
        mean += waiting * m;
        var += waiting * (second - m * m) + services * services * self.var / self.weight;
        let c = f64::from(rooms.max(1));
        let (mean, var) = (mean / c, var / (c * c));
        if mean <= 1e-9 {
            return (0, 1);
        }
        let s2 = (1.0 + var / (mean * mean)).ln();
        let (mu, s) = (mean.ln() - s2 / 2.0, s2.sqrt());
        let lo = (mu - Z_80 * s).exp().floor();
        let hi = (mu + Z_80 * s).exp().ceil().max(lo + 1.0);
        (clamp_minutes(lo), clamp_minutes(hi))
    }

    /// Mean and variance of what is left of a service that has run `elapsed` minutes: S − e
    /// given S > e, for the log-normal S with this model's mean and variance. A service run
    /// far past what the model expects (say SERVED not pressed yet) counts as a whole one
    /// again rather than as the long tail the log-normal would give it.
    fn remainder(&self, elapsed: f64) -> (f64, f64) {
        let whole = (self.mean, self.var);
        if elapsed.is_nan() || elapsed <= 0.0 {
            return whole;
        }
        let s2 = (1.0 + self.var / (self.mean * self.mean)).ln();
        let (s, mu) = (s2.sqrt(), self.mean.ln() - s2 / 2.0);
        let a = (elapsed.ln() - mu) / s;
        let survives = upper_tail(a);
        if survives < 1e-9 {
            return whole;
        }
        let first = self.mean * upper_tail(a - s) / survives;
        let second = (2.0 * mu + 2.0 * s2).exp() * upper_tail(a - 2.0 * s) / survives;
        let rest = first - elapsed;
        if !rest.is_finite() || rest > self.mean {
            return whole;
        }
        (rest.max(0.0), (second - first * first).clamp(0.0, self.var))
    }
}

/// P(Z > z) for a standard normal Z.
fn upper_tail(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// What the ETA reads of a line now besides its service times: how long each patient in
/// service has been in, and how many of the day's patients have left the line, and how many
/// of those without being served.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineNow {
    pub in_service_minutes: Vec<f64>,
    pub passed_over: i32,
    pub left: i32,
}

impl LineNow {
    /// The line of one session (none yet: an empty line).
    pub fn read(client: &SpiClient<'_>, session_id: Option<Uuid>, now: TimestampWithTimeZone) -> QResult<LineNow> {
        let Some(session_id) = session_id else { return Ok(LineNow::default()) };
        let row = db::read_first(
            client,
            "SELECT coalesce(array_agg(greatest(extract(epoch FROM $2 - called_at), 0)::float8 / 60 \
                                       ORDER BY called_at) FILTER (WHERE status = 'SERVING'), '{}'), \
                    (count(*) FILTER (WHERE status IN ('SKIPPED', 'CANCELLED')))::int, \
                    (count(*) FILTER (WHERE status IN ('SERVED', 'SKIPPED', 'CANCELLED')))::int \
             FROM qlink.tokens WHERE session_id = $1 AND status IN ('SERVING', 'SERVED', 'SKIPPED', 'CANCELLED')",
            &[session_id.into(), now.into()],
        )?;
        let Some(row) = row else { return Ok(LineNow::default()) };
        Ok(LineNow {
            in_service_minutes: db::nullable::<Vec<Option<f64>>>(&row, 1)?
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.unwrap_or(0.0))
                .collect(),
            passed_over: db::nullable(&row, 2)?.unwrap_or(0),
            left: db::nullable(&row, 3)?.unwrap_or(0),
        })
    }

    /// The share of waiting patients who will leave unserved: the day's, against a prior of
    /// none weighing `PRIOR_WEIGHT` patients.
    pub fn passed_over_share(&self) -> f64 {
        let passed = f64::from(self.passed_over.max(0));
        (passed / (f64::from(self.left.max(0)) + PRIOR_WEIGHT)).clamp(0.0, 0.5)
    }

    pub fn serving(&self) -> i32 {
        self.in_service_minutes.len() as i32
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
/// from the line, the day's service durations (ms), the clinic's configured range, the
/// delay still to run, how long each of the people ahead who are in service has been in
/// (minutes), and of the patients who left the line today how many were not served.
#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::too_many_arguments)]
pub fn eta_interval(
    people_ahead: i32,
    rooms: i32,
    service_ms: Vec<Option<i32>>,
    eta_min: i32,
    eta_max: i32,
    delay_minutes: default!(i32, 0),
    in_service_minutes: default!(Vec<Option<f64>>, "'{}'"),
    passed_over: default!(i32, 0),
    left_line: default!(i32, 0),
) -> TableIterator<'static, (name!(eta_min_minutes, i32), name!(eta_max_minutes, i32))> {
    let ms: Vec<i32> = service_ms.into_iter().flatten().collect();
    let model = ServiceModel::from_samples(ServiceModel::prior(eta_min, eta_max), &ms);
    let line = LineNow {
        in_service_minutes: in_service_minutes.into_iter().map(|e| e.unwrap_or(0.0)).collect(),
        passed_over,
        left: left_line,
    };
    let (lo, hi) = model.wait(people_ahead, &line, rooms);
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
    fn a_service_under_way_counts_by_what_is_left_of_it() {
        let m = ServiceModel::prior(6, 15);
        let (rest, _) = m.remainder(0.0);
        assert_eq!(rest, m.mean);
        // Past the median, less than a whole service is left, and less the later it is.
        let (r10, _) = m.remainder(10.0);
        let (r14, _) = m.remainder(14.0);
        assert!(r10 < m.mean && r14 < m.mean, "{r10} {r14} {}", m.mean);
        let fresh = m.wait(1, &LineNow { in_service_minutes: vec![0.0], ..LineNow::default() }, 1);
        let late = m.wait(1, &LineNow { in_service_minutes: vec![10.0], ..LineNow::default() }, 1);
        assert_eq!(fresh, m.interval(1, 1));
        assert!(late.0 <= fresh.0 && late.1 < fresh.1, "{late:?} {fresh:?}");
        // Far past anything the model expects (SERVED not pressed): a whole service again.
        assert_eq!(m.remainder(500.0), (m.mean, m.var));
    }

    #[test]
    fn patients_passed_over_thin_the_line_ahead() {
        let m = ServiceModel::prior(6, 15);
        let none = m.wait(12, &LineNow::default(), 1);
        let some = m.wait(12, &LineNow { passed_over: 6, left: 30, ..LineNow::default() }, 1);
        assert!(some.0 < none.0 && some.1 < none.1, "{some:?} {none:?}");
        // Before anyone has left, the prior of none holds.
        assert_eq!(LineNow { passed_over: 0, left: 0, ..LineNow::default() }.passed_over_share(), 0.0);
        assert!(LineNow { passed_over: 30, left: 30, ..LineNow::default() }.passed_over_share() <= 0.5);
    }

    #[test]
    fn delays_run_down() {
        assert_eq!(delay_left(Some(30), Some(0.0)), Some(30));
        assert_eq!(delay_left(Some(30), Some(61.0)), Some(29));
        assert_eq!(delay_left(Some(30), Some(3600.0)), Some(0));
        assert_eq!(delay_left(None, Some(1.0)), None);
    }
}
