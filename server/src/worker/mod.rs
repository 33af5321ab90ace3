//! The message worker: drains the outbox (`qlink.message_logs`) to WhatsApp. The outbox
//! protocol itself (leases, backoff, attempt counts) lives in the extension; the worker only
//! calls it (`crate::sql`), so each concern here is small enough to read on its own:
//!
//! - [`listen`]: a dedicated LISTEN connection that reconnects with backoff. A notification
//!   is only a wake-up: the dispatcher also claims at start-up, every `worker_poll_seconds`
//!   and when a retry it scheduled falls due, so a lost notification (or one sent while the
//!   worker was down) only delays a message.
//! - [`dispatch`]: claims due rows with a lease (`FOR UPDATE SKIP LOCKED`, so several workers
//!   share the outbox and a crashed worker's rows come back when its lease ends), keeps each
//!   sender number's claimed-but-unfinished rows within what it drains in a quarter of the
//!   lease (the numbers at their bound go to the claim as `full_senders`), and on shutdown
//!   waits (bounded) for the sends in flight.
//! - [`senders`]: the sender numbers: the installation's (or the log) and each clinic's own,
//!   arriving with the claimed rows (phone number id, sealed access token, rate). Per number:
//!   its rate limiter, its claimed-but-unfinished rows and their bound, its Cloud API client
//!   with the decrypted token. A token that does not open fails that clinic's messages only.
//! - [`send`]: one send attempt — the number's rate slot first, then one of the shared send
//!   slots — never outliving its lease, and its outcome recorded with
//!   `qlink.finish_message`. No database transaction is open during an HTTP call.
//! - [`pace`]: the rate limiter, one per sender number (Meta paces each number on its own; a
//!   throttled number pauses only itself).
//! - [`housekeeping`]: the daily retention purge and pruning, done by the one worker whose
//!   LISTEN session holds an advisory lock.
//! - [`lag`]: the backlog gauges, overall and per sender number.
//!
//! This file wires them together and owns the shutdown order: stop claiming, hand back what
//! was not started, finish what was, then let the listener and the gauge go.
//!
//! Metrics: `qlink_messages_total{type,outcome}`, `qlink_message_send_seconds`,
//! `qlink_outbox_lag_seconds`, `qlink_sender_backlog{sender,state}` and
//! `qlink_sender_recipients_24h{sender}` (`sender`: the phone number id, or `installation`).

mod dispatch;
mod housekeeping;
mod lag;
mod listen;
mod pace;
mod send;
mod senders;

pub use housekeeping::{HOUSEKEEPING_INTERVAL, HOUSEKEEPING_LOCK_KEY};
pub use listen::LISTEN_APPLICATION_NAME;

use crate::config::{WhatsAppArgs, WorkerArgs};
use anyhow::Context as _;
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// `application_name` of the worker's pooled connections (claims and finishes).
pub const POOL_APPLICATION_NAME: &str = "qlink-worker";

/// Runs the worker until `shutdown` is cancelled. `db` is the worker role's connection
/// settings (`qlink_worker`: the outbox and housekeeping functions are all it may call);
/// `public_url` is where patients reach the server (tracking links in messages).
///
/// Returns an error only for invalid configuration; an unreachable database or WhatsApp
/// API is logged and retried for as long as the worker runs.
pub async fn run(
    db: impl Into<crate::db::Target>,
    public_url: String,
    whatsapp: WhatsAppArgs,
    args: WorkerArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let settings = Settings::from_args(&args)?;
    let senders = Arc::new(senders::Senders::new(&whatsapp, &settings)?);
    let public_url = public_url.trim().trim_end_matches('/').to_string();
    anyhow::ensure!(
        public_url.starts_with("http://") || public_url.starts_with("https://"),
        "QLINK_PUBLIC_URL must be an http(s) URL (tracking links in messages point there)"
    );
    describe_metrics();

    let mut db = db.into();
    if db.config.get_connect_timeout().is_none() {
        db.config.connect_timeout(Duration::from_secs(10));
    }
    // Keepalives notice a dead peer on the otherwise idle LISTEN connection.
    db.config.keepalives(true).keepalives_idle(Duration::from_secs(60));
    let mut pool_config = db.clone();
    pool_config.config.application_name(POOL_APPLICATION_NAME);
    // Every concurrent send finishes on its own connection; plus a claim, the lag sample
    // and the housekeeping.
    let pool = crate::db::pool(pool_config, settings.concurrency + 3)?;

    tracing::info!(
        provider = senders.installation_name(),
        secret_key = senders.has_secret_key(),
        rate_per_second = settings.rate_per_second,
        concurrency = settings.concurrency,
        batch = settings.batch_size,
        lease_seconds = settings.lease.as_secs_f64(),
        poll_seconds = settings.poll.as_secs_f64(),
        "message worker starting"
    );

    let wake = Arc::new(Notify::new());
    let housekeeping = Arc::new(housekeeping::Housekeeping::new(pool.clone(), settings.retention_days));
    let listener = listen::Listener::new(db, wake.clone(), housekeeping, shutdown.clone());
    let listener_task = tokio::spawn(listener.run());
    // Its own task: the gauge must keep moving while every send slot is held by a hanging
    // API, which is exactly when it matters.
    let lag_task = tokio::spawn(lag::LagGauge::new(pool.clone()).run(shutdown.clone()));

    let sender = send::Sender::new(pool.clone(), senders.clone(), public_url, &settings, shutdown.clone());
    dispatch::Dispatcher::new(pool, sender, senders, &settings, wake, shutdown).run().await;

    for (name, task) in [("listener", listener_task), ("outbox lag", lag_task)] {
        if let Err(e) = task.await {
            tracing::error!(error = %e, task = name, "a worker task failed");
        }
    }
    tracing::info!("message worker stopped");
    Ok(())
}

fn describe_metrics() {
    metrics::describe_counter!("qlink_messages_total", "WhatsApp send attempts by message type and outcome");
    metrics::describe_histogram!(
        "qlink_message_send_seconds",
        metrics::Unit::Seconds,
        "Duration of one WhatsApp send request"
    );
    metrics::describe_gauge!(
        "qlink_outbox_lag_seconds",
        metrics::Unit::Seconds,
        "How long the oldest due message has been waiting to be sent"
    );
    metrics::describe_gauge!(
        "qlink_sender_backlog",
        "Unsent messages per sender number: pending, deferred (held by the daily recipient cap; part of pending) and failed (awaiting a retry)"
    );
    metrics::describe_gauge!(
        "qlink_sender_recipients_24h",
        "Unique recipients of template messages in the last 24 hours, per sender number's account"
    );
}

/// Validated worker settings.
#[derive(Clone, Debug)]
struct Settings {
    rate_per_second: f64,
    concurrency: usize,
    poll: Duration,
    lease: Duration,
    batch_size: i32,
    retention_days: i32,
}

impl Settings {
    fn from_args(args: &WorkerArgs) -> anyhow::Result<Settings> {
        anyhow::ensure!(
            args.whatsapp_rate_per_second.is_finite() && args.whatsapp_rate_per_second > 0.0,
            "the WhatsApp rate must be a positive number of messages per second"
        );
        anyhow::ensure!(args.worker_concurrency >= 1, "the worker concurrency must be at least 1");
        anyhow::ensure!(args.worker_poll_seconds >= 1, "the worker poll interval must be at least 1 second");
        anyhow::ensure!(args.worker_lease_seconds >= 1, "the worker lease must be at least 1 second");
        anyhow::ensure!((1..=1000).contains(&args.worker_batch_size), "the worker batch must be from 1 to 1000");
        anyhow::ensure!(args.retention_days >= 1, "the retention must be at least 1 day");
        Ok(Settings {
            rate_per_second: args.whatsapp_rate_per_second,
            concurrency: args.worker_concurrency,
            poll: Duration::from_secs(args.worker_poll_seconds),
            lease: Duration::from_secs(args.worker_lease_seconds),
            batch_size: args.worker_batch_size,
            retention_days: i32::try_from(args.retention_days).context("the retention is too long")?,
        })
    }

    /// Part of the lease kept free at its end for recording the outcome.
    fn send_margin(&self) -> Duration {
        (self.lease / 4).min(Duration::from_secs(1))
    }

    /// Most rows of one sender at the default rate claimed and not yet finished.
    fn max_outstanding(&self) -> usize {
        self.max_outstanding_at(self.rate_per_second)
    }

    /// Most rows of one sender number claimed and not yet finished, at its rate. Bounded so
    /// that the last of them still gets its rate-limiter slot within a quarter of the lease.
    fn max_outstanding_at(&self, rate_per_second: f64) -> usize {
        let drainable = (rate_per_second * self.lease.as_secs_f64() / 4.0).floor();
        let drainable = if drainable >= 1.0 { drainable.min(1_000_000.0) as usize } else { 1 };
        (self.batch_size as usize + self.concurrency).min(drainable).max(1)
    }

    /// Most rows of all senders together claimed and not yet finished: each sender holds
    /// its own bound, this only caps the memory and connections when many clinics have a
    /// backlog at once (the send slots are the limit then anyway).
    fn max_outstanding_all(&self) -> usize {
        4 * (self.batch_size as usize + self.concurrency)
    }
}

/// Exponential backoff (backon's schedule: doubling from `min`, capped at `max`) with ±20 %
/// jitter, so workers that lost the database together don't reconnect in lockstep. The
/// jitter is ours because backon's only adds (up to twice the delay), which would stretch
/// the patient-facing waits the tests pin down.
struct Backoff {
    builder: ExponentialBuilder,
    schedule: ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        let builder =
            ExponentialBuilder::new().with_min_delay(min).with_max_delay(max).with_factor(2.0).without_max_times();
        Backoff { builder, schedule: builder.build(), max }
    }

    fn next_delay(&mut self) -> Duration {
        // A schedule without a limit on the times never ends; the cap would be its value anyway.
        let delay = self.schedule.next().unwrap_or(self.max);
        let jitter: f64 = rand::Rng::gen_range(&mut rand::thread_rng(), 0.8..1.2);
        delay.mul_f64(jitter)
    }

    fn reset(&mut self) {
        self.schedule = self.builder.build();
    }
}

/// Locks a std mutex, ignoring poisoning: the guarded data (sets, instants) stays valid even
/// if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> WorkerArgs {
        WorkerArgs {
            whatsapp_rate_per_second: 80.0,
            worker_concurrency: 16,
            worker_poll_seconds: 3,
            worker_lease_seconds: 30,
            worker_batch_size: 50,
            retention_days: 90,
        }
    }

    #[test]
    fn outstanding_rows_drain_within_a_quarter_of_the_lease() {
        let s = Settings::from_args(&args()).unwrap();
        assert_eq!(s.max_outstanding(), 66);
        let mut slow = args();
        slow.whatsapp_rate_per_second = 2.0;
        slow.worker_lease_seconds = 4;
        assert_eq!(Settings::from_args(&slow).unwrap().max_outstanding(), 2);
        slow.whatsapp_rate_per_second = 0.1;
        assert_eq!(Settings::from_args(&slow).unwrap().max_outstanding(), 1);
        assert_eq!(Settings::from_args(&slow).unwrap().send_margin(), Duration::from_secs(1));
    }

    #[test]
    fn invalid_settings_are_refused() {
        for broken in [
            WorkerArgs { whatsapp_rate_per_second: 0.0, ..args() },
            WorkerArgs { whatsapp_rate_per_second: f64::NAN, ..args() },
            WorkerArgs { worker_concurrency: 0, ..args() },
            WorkerArgs { worker_lease_seconds: 0, ..args() },
            WorkerArgs { worker_batch_size: 0, ..args() },
            WorkerArgs { worker_batch_size: 1001, ..args() },
            WorkerArgs { retention_days: 0, ..args() },
        ] {
            assert!(Settings::from_args(&broken).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let delays: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert!((80..=120).contains(&delays[0]) && (160..=240).contains(&delays[1]));
        assert!((320..=480).contains(&delays[2]) && (320..=480).contains(&delays[3]));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }
}
