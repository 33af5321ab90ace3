//! The message worker: drains the outbox (`qlink.message_logs`) to WhatsApp.
//!
//! - **Wake-ups.** A dedicated connection (not pooled, `application_name`
//!   `qlink-worker-listen`) LISTENs on `qlink_messages` and reconnects with backoff. A
//!   notification only wakes the dispatcher: it also claims at start-up, every
//!   `worker_poll_seconds`, and when a retry it scheduled falls due, so a lost notification
//!   (or one sent while the worker was down) only delays a message.
//! - **Claims.** `qlink.claim_messages(n, lease)` leases due rows (`FOR UPDATE SKIP LOCKED`),
//!   so several workers share the outbox and a crashed worker's rows come back when the lease
//!   ends. While a claim comes back full the dispatcher claims again at once.
//! - **Sends.** At most `worker_concurrency` HTTP requests in flight, paced by a token bucket
//!   at `whatsapp_rate_per_second` (one sender number per worker process). No database
//!   transaction is open during an HTTP call: claim and finish are single autocommit
//!   statements. A send never outlives its lease (it is cut short, and a row whose lease is
//!   nearly spent before it could be sent is handed back untouched), so another worker never
//!   sends the same row while this one still might.
//! - **Outcomes.** `qlink.finish_message` records SENT, RETRY, THROTTLED or FAILED; the
//!   outbox owns the backoff and the attempt count. The worker wakes itself when the earliest
//!   retry it was told about falls due.
//! - **Shutdown.** On cancellation it stops claiming, hands back rows it had not started to
//!   send, waits (bounded) for the sends in flight and records them, then returns.
//! - **Housekeeping.** The worker whose LISTEN session holds a PostgreSQL advisory lock is the
//!   housekeeper: once a day it runs `qlink.purge_tokens`, `qlink.prune_rate_limits` and
//!   `qlink.prune_login_sessions`. With several workers exactly one holds the lock; if it
//!   dies its session ends and another takes over.
//!
//! Metrics: `qlink_messages_total{type,outcome}`, `qlink_message_send_seconds`,
//! `qlink_outbox_lag_seconds`.

use crate::config::{WhatsAppArgs, WorkerArgs};
use crate::whatsapp::{Language, MessageType, OutboundMessage, Provider, SendOutcome, REQUEST_TIMEOUT};
use anyhow::Context as _;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

/// `application_name` of the LISTEN connection (operators and tests find it in
/// `pg_stat_activity`).
pub const LISTEN_APPLICATION_NAME: &str = "qlink-worker-listen";
/// `application_name` of the worker's pooled connections (claims and finishes).
pub const POOL_APPLICATION_NAME: &str = "qlink-worker";
/// The session-level advisory lock held by the one worker that does the housekeeping
/// (the bytes of "qlinkhkp").
pub const HOUSEKEEPING_LOCK_KEY: i64 = 0x716c_696e_6b68_6b70;
/// How often the housekeeping runs.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// After a failed housekeeping run, try again this much later rather than tomorrow.
const HOUSEKEEPING_RETRY: Duration = Duration::from_secs(60 * 60);
/// How often the LISTEN connection is checked (a `SELECT 1`, so a silently dead TCP
/// connection is noticed) and a non-housekeeper tries to take the housekeeping lock.
const LISTEN_HEALTH_INTERVAL: Duration = Duration::from_secs(30);
/// Optional extension function giving the age of the oldest due message (seconds).
pub const OUTBOX_LAG_FUNCTION: &str = "qlink.outbox_lag_seconds";
/// How often the outbox lag gauge is refreshed.
const LAG_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// A row is sent only if at least this much of its lease is left; otherwise it is handed back.
const MIN_SEND_WINDOW: Duration = Duration::from_millis(250);
/// How long all sends pause when WhatsApp throttles one without saying for how long.
const THROTTLE_PAUSE: Duration = Duration::from_secs(1);
/// The longest all sends pause for one throttled answer (other messages may be unaffected,
/// e.g. by a per-recipient limit).
const MAX_THROTTLE_PAUSE: Duration = Duration::from_secs(5);
/// How long shutdown waits for the sends in flight (they are bounded by the request timeout).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(REQUEST_TIMEOUT.as_secs() + 5);

/// Runs the worker until `shutdown` is cancelled. `db` is the runtime role's connection
/// settings (`qlink_app` suffices: the worker only calls `qlink.*` functions);
/// `public_url` is where patients reach the server (tracking links in messages).
///
/// Returns an error only for invalid configuration; an unreachable database or WhatsApp
/// API is logged and retried for as long as the worker runs.
pub async fn run(
    db: tokio_postgres::Config,
    public_url: String,
    whatsapp: WhatsAppArgs,
    args: WorkerArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let settings = Settings::from_args(&args)?;
    let provider = Provider::from_args(&whatsapp)?;
    let public_url = public_url.trim().trim_end_matches('/').to_string();
    anyhow::ensure!(
        public_url.starts_with("http://") || public_url.starts_with("https://"),
        "QLINK_PUBLIC_URL must be an http(s) URL (tracking links in messages point there)"
    );
    describe_metrics();

    let mut db = db;
    if db.get_connect_timeout().is_none() {
        db.connect_timeout(Duration::from_secs(10));
    }
    // Keepalives notice a dead peer on the otherwise idle LISTEN connection.
    db.keepalives(true).keepalives_idle(Duration::from_secs(60));
    let mut pool_config = db.clone();
    pool_config.application_name(POOL_APPLICATION_NAME);
    // Every concurrent send finishes on its own connection; plus a claim, the lag sample
    // and the housekeeping.
    let pool = crate::db::pool(pool_config, settings.concurrency + 3)?;
    let mut listen_config = db;
    listen_config.application_name(LISTEN_APPLICATION_NAME);

    tracing::info!(
        provider = provider.name(),
        rate_per_second = settings.rate_per_second,
        concurrency = settings.concurrency,
        batch = settings.batch_size,
        lease_seconds = settings.lease.as_secs_f64(),
        poll_seconds = settings.poll.as_secs_f64(),
        "message worker starting"
    );

    let wake = Arc::new(Notify::new());
    let listener = Listener {
        config: listen_config,
        wake: wake.clone(),
        shutdown: shutdown.clone(),
        housekeeping: Arc::new(Housekeeping {
            pool: pool.clone(),
            retention_days: settings.retention_days,
            next_run: Mutex::new(None),
            running: AtomicBool::new(false),
        }),
    };
    let listener_task = tokio::spawn(listener.run());

    let shared = Arc::new(Shared {
        pool,
        provider,
        public_url,
        limiter: RateLimiter::new(settings.rate_per_second, 1),
        send_slots: Arc::new(Semaphore::new(settings.concurrency)),
        in_flight: Mutex::new(HashSet::new()),
        next_due: Mutex::new(None),
        reschedule: Notify::new(),
        lease: settings.lease,
        send_margin: settings.send_margin(),
        shutdown: shutdown.clone(),
    });
    Dispatcher::new(shared, settings, wake).run().await;

    if let Err(e) = listener_task.await {
        tracing::error!(error = %e, "the worker's listener task failed");
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

    /// Most rows claimed and not yet finished. Bounded so that the last of them still gets
    /// its rate-limiter slot within a quarter of the lease.
    fn max_outstanding(&self) -> usize {
        let drainable = (self.rate_per_second * self.lease.as_secs_f64() / 4.0).floor();
        let drainable = if drainable >= 1.0 { drainable.min(1_000_000.0) as usize } else { 1 };
        (self.batch_size as usize + self.concurrency).min(drainable).max(1)
    }
}

/// State shared by the dispatcher and the send tasks.
struct Shared {
    pool: deadpool_postgres::Pool,
    provider: Provider,
    public_url: String,
    limiter: RateLimiter,
    /// HTTP requests in flight.
    send_slots: Arc<Semaphore>,
    /// Ids of rows this worker holds. A row whose lease ran out while its send was still
    /// being recorded may be claimed again; it must not be sent twice by us.
    in_flight: Mutex<HashSet<i64>>,
    /// The earliest retry/deferral the outbox told us about.
    next_due: Mutex<Option<Instant>>,
    /// Signalled when `next_due` moved earlier.
    reschedule: Notify,
    lease: Duration,
    send_margin: Duration,
    shutdown: CancellationToken,
}

/// One row of `qlink.claim_messages`.
#[derive(Debug)]
struct ClaimedMessage {
    id: i64,
    token_id: Option<uuid::Uuid>,
    message_type: String,
    to_phone: Option<String>,
    language: String,
    payload: Value,
    attempts: i32,
}

struct Dispatcher {
    shared: Arc<Shared>,
    wake: Arc<Notify>,
    /// Claimed-but-unfinished rows (see `Settings::max_outstanding`).
    outstanding: Arc<Semaphore>,
    claim_chunk: usize,
    poll: Duration,
    tasks: JoinSet<()>,
    /// Shared with the lag gauge: since when claims have kept coming back full.
    backlog_since: Arc<Mutex<Option<Instant>>>,
}

impl Dispatcher {
    fn new(shared: Arc<Shared>, settings: Settings, wake: Arc<Notify>) -> Self {
        let max_outstanding = settings.max_outstanding();
        Dispatcher {
            outstanding: Arc::new(Semaphore::new(max_outstanding)),
            claim_chunk: (settings.batch_size as usize).min(max_outstanding),
            poll: settings.poll,
            tasks: JoinSet::new(),
            backlog_since: Arc::new(Mutex::new(None)),
            shared,
            wake,
        }
    }

    async fn run(mut self) {
        let shutdown = self.shared.shutdown.clone();
        let lag = LagGauge {
            pool: self.shared.pool.clone(),
            backlog_since: self.backlog_since.clone(),
            function_available: None,
        };
        let lag_task = tokio::spawn(lag.run(shutdown.clone()));
        let mut errors = Backoff::new(Duration::from_millis(250), Duration::from_secs(15));
        // Claim when there is room for at least half a chunk: fewer, larger claims.
        let low_water = (self.claim_chunk / 2).max(1) as u32;
        loop {
            self.reap_finished_tasks();
            if shutdown.is_cancelled() {
                break;
            }
            if self.outstanding.available_permits() < low_water as usize {
                tokio::select! {
                    // Only this loop takes permits, so once `low_water` are free they stay free.
                    permits = self.outstanding.acquire_many(low_water) => drop(permits),
                    _ = shutdown.cancelled() => break,
                }
            }
            let room = self.claim_chunk.min(self.outstanding.available_permits());
            match self.claim(room).await {
                Ok(rows) => {
                    errors.reset();
                    let full = rows.len() == room;
                    let mut backlog_since = lock(&self.backlog_since);
                    if full {
                        backlog_since.get_or_insert_with(Instant::now);
                    } else {
                        *backlog_since = None;
                    }
                    drop(backlog_since);
                    for row in rows {
                        self.spawn_send(row);
                    }
                    if full {
                        // More may be due right now: don't wait for the next poll.
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "claiming messages failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(errors.next_delay()) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
            self.idle().await;
        }
        self.stop().await;
        let _ = lag_task.await;
    }

    /// Waits for a notification, the next poll, the earliest known retry, or shutdown.
    async fn idle(&self) {
        let poll_at = Instant::now() + self.poll;
        let due_at = *lock(&self.shared.next_due);
        let wake_at = due_at.map_or(poll_at, |due| due.min(poll_at));
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at) => {}
            _ = self.shared.reschedule.notified() => {}
            _ = self.shared.shutdown.cancelled() => {}
        }
        let mut next_due = lock(&self.shared.next_due);
        if next_due.is_some_and(|due| due <= Instant::now()) {
            *next_due = None;
        }
    }

    async fn claim(&self, max_rows: usize) -> anyhow::Result<Vec<ClaimedMessage>> {
        let client = self.shared.pool.get().await.context("getting a database connection")?;
        let max_rows = i32::try_from(max_rows).unwrap_or(i32::MAX);
        let rows = client
            .query(
                "SELECT id, token_id, message_type, to_phone, language, payload, attempts \
                 FROM qlink.claim_messages($1, make_interval(secs => $2))",
                &[&max_rows, &self.shared.lease.as_secs_f64()],
            )
            .await
            .context("qlink.claim_messages")?;
        rows.into_iter()
            .map(|r| {
                Ok(ClaimedMessage {
                    id: r.try_get(0)?,
                    token_id: r.try_get(1)?,
                    message_type: r.try_get(2)?,
                    to_phone: r.try_get(3)?,
                    language: r.try_get(4)?,
                    payload: r.try_get(5)?,
                    attempts: r.try_get(6)?,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .context("reading claimed messages")
    }

    fn spawn_send(&mut self, row: ClaimedMessage) {
        let claimed_at = Instant::now();
        if !lock(&self.shared.in_flight).insert(row.id) {
            // Still ours from an earlier claim (its lease ran out while recording it); the
            // running task finishes it.
            tracing::warn!(
                message_id = row.id,
                "message claimed again while still in flight; leaving it to the first send"
            );
            return;
        }
        let guard = InFlight { shared: self.shared.clone(), id: row.id };
        let permit = match self.outstanding.clone().try_acquire_owned() {
            Ok(p) => p,
            // Cannot happen (we never claim more than the free permits), but never panic:
            // hand the row back.
            Err(_) => {
                let shared = self.shared.clone();
                self.tasks.spawn(async move {
                    shared.release(row.id).await;
                    drop(guard);
                });
                return;
            }
        };
        let shared = self.shared.clone();
        self.tasks.spawn(async move {
            shared.deliver(row, claimed_at).await;
            drop(permit);
            drop(guard);
        });
    }

    fn reap_finished_tasks(&mut self) {
        while let Some(result) = self.tasks.try_join_next() {
            if let Err(e) = result {
                tracing::error!(error = %e, "a message send task failed");
            }
        }
    }

    /// Stops claiming; waits (bounded) for sends in flight; abandons the rest to the lease.
    async fn stop(&mut self) {
        let pending = self.tasks.len();
        if pending > 0 {
            tracing::info!(pending, "message worker stopping: finishing sends in flight");
        }
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(result) = self.tasks.join_next().await {
                if let Err(e) = result {
                    tracing::error!(error = %e, "a message send task failed");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = self.tasks.len(),
                "sends still running at the end of the shutdown grace period; their messages return when the lease ends"
            );
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

/// Removes a row from the in-flight set however its task ends (also when aborted).
struct InFlight {
    shared: Arc<Shared>,
    id: i64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.shared.in_flight).remove(&self.id);
    }
}

impl Shared {
    /// Sends one claimed row and records the outcome.
    async fn deliver(&self, row: ClaimedMessage, claimed_at: Instant) {
        let send_deadline = claimed_at + self.lease.saturating_sub(self.send_margin);
        // A send slot, then a rate-limiter slot. Shutdown before the send starts hands the
        // row back at once instead of leaving it leased.
        let slot = tokio::select! {
            slot = self.send_slots.clone().acquire_owned() => slot,
            _ = self.shutdown.cancelled() => return self.release(row.id).await,
        };
        let Ok(slot) = slot else { return self.release(row.id).await };
        tokio::select! {
            _ = self.limiter.until_ready() => {}
            _ = self.shutdown.cancelled() => return self.release(row.id).await,
        }
        let now = Instant::now();
        if now + MIN_SEND_WINDOW > send_deadline {
            tracing::warn!(
                message_id = row.id,
                "the lease was nearly spent before the message could be sent; handing it back"
            );
            return self.release(row.id).await;
        }

        let message_type = MessageType::parse(&row.message_type);
        let type_label = message_type.map_or("UNKNOWN", MessageType::as_str);
        let outcome = match self.prepare(&row, message_type) {
            Err(reason) => SendOutcome::Failed {
                response: json!({"error": {"message": reason.clone(), "source": "qlink"}}),
                reason,
            },
            Ok(message) => {
                let started = Instant::now();
                let outcome = match tokio::time::timeout(send_deadline - now, self.provider.send(&message)).await {
                    Ok(outcome) => outcome,
                    Err(_) => SendOutcome::Retry {
                        reason: "no answer before the message's lease ran out".into(),
                        response: json!({"error": {"message": "timeout waiting for the WhatsApp API", "source": "qlink"}}),
                    },
                };
                metrics::histogram!("qlink_message_send_seconds").record(started.elapsed().as_secs_f64());
                outcome
            }
        };
        drop(slot);
        if let SendOutcome::Throttled { retry_after, .. } = &outcome {
            let pause = retry_after.unwrap_or(THROTTLE_PAUSE).min(MAX_THROTTLE_PAUSE);
            self.limiter.pause_until(Instant::now() + pause);
        }
        metrics::counter!("qlink_messages_total", "type" => type_label, "outcome" => outcome.metric_label())
            .increment(1);
        self.log_outcome(&row, type_label, &outcome);
        self.finish(row.id, &outcome).await;
    }

    /// Turns an outbox row into a template message; an error is permanent (the row itself
    /// is unusable: it would fail the same way every time).
    fn prepare(&self, row: &ClaimedMessage, message_type: Option<MessageType>) -> Result<OutboundMessage, String> {
        let message_type = message_type.ok_or_else(|| format!("unknown message type {:?}", row.message_type))?;
        let to_phone =
            row.to_phone.clone().filter(|p| !p.trim().is_empty()).ok_or("the message has no phone number")?;
        let clinic_name = row
            .payload
            .get("clinic_name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("the message payload has no clinic_name")?
            .to_string();
        let token_number = row
            .payload
            .get("token_number")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .ok_or("the message payload has no token_number")?;
        let token_id = row
            .payload
            .get("token_id")
            .and_then(Value::as_str)
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .or(row.token_id)
            .ok_or("the message payload has no token_id")?;
        // Null for messages queued without a position; 0 is the honest default.
        let people_ahead =
            row.payload.get("people_ahead").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok()).unwrap_or(0);
        Ok(OutboundMessage {
            message_type,
            to_phone,
            language: Language::parse(&row.language),
            clinic_name,
            token_number,
            tracking_url: format!("{}/t/{}", self.public_url, token_id),
            people_ahead,
        })
    }

    fn log_outcome(&self, row: &ClaimedMessage, message_type: &str, outcome: &SendOutcome) {
        let attempt = row.attempts + 1;
        match outcome {
            SendOutcome::Sent { provider_message_id, .. } => tracing::debug!(
                message_id = row.id,
                message_type,
                provider_message_id = provider_message_id.as_deref().unwrap_or(""),
                "message sent"
            ),
            SendOutcome::Retry { reason, .. } => {
                tracing::warn!(message_id = row.id, message_type, attempt, reason = %reason, "message send failed; will retry")
            }
            SendOutcome::Throttled { retry_after, .. } => tracing::warn!(
                message_id = row.id,
                message_type,
                retry_after_seconds = retry_after.map(|d| d.as_secs()),
                "WhatsApp throttled the send; deferring the message"
            ),
            SendOutcome::Failed { reason, .. } => {
                tracing::warn!(message_id = row.id, message_type, reason = %reason, "message failed permanently")
            }
        }
    }

    /// Records the outcome. Retried briefly: if it cannot be recorded the row comes back when
    /// its lease ends and is sent again (a duplicate the patient may see, never a loss).
    async fn finish(&self, id: i64, outcome: &SendOutcome) {
        let provider = self.provider.name();
        let retry_after = outcome.retry_after().map(|d| d.as_secs_f64());
        let mut delays = [Duration::from_millis(200), Duration::from_millis(800)].into_iter();
        loop {
            match self.try_finish(id, outcome.finish_outcome(), Some(provider), outcome, retry_after).await {
                Ok(Some(due_in)) => return self.schedule(due_in),
                Ok(None) => return,
                Err(e) if is_not_found(&e) => {
                    // The clinic (and its messages) was deleted while we were sending.
                    tracing::info!(message_id = id, "message deleted while it was being sent");
                    return;
                }
                Err(e) => match delays.next() {
                    Some(delay) => {
                        tracing::warn!(
                            message_id = id,
                            error = format!("{e:#}"),
                            "recording a message outcome failed; retrying"
                        );
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        tracing::error!(
                            message_id = id,
                            error = format!("{e:#}"),
                            "recording a message outcome failed; it will be retried when its lease ends"
                        );
                        return;
                    }
                },
            }
        }
    }

    /// One `qlink.finish_message`. Returns how long until the row is due again when it still
    /// needs a send (retry or deferral).
    async fn try_finish(
        &self,
        id: i64,
        outcome: &str,
        provider: Option<&str>,
        result: &SendOutcome,
        retry_after_seconds: Option<f64>,
    ) -> anyhow::Result<Option<Duration>> {
        let client = self.pool.get().await.context("getting a database connection")?;
        let row = client
            .query_one(
                "SELECT f.status, \
                        greatest(extract(epoch FROM f.next_attempt_at - clock_timestamp()), 0)::float8 \
                 FROM qlink.finish_message($1, $2, $3, $4, $5::jsonb, make_interval(secs => $6::float8)) f",
                &[&id, &outcome, &provider, &result.provider_message_id(), &result.response(), &retry_after_seconds],
            )
            .await
            .context("qlink.finish_message")?;
        let status: String = row.try_get(0)?;
        let due_in: f64 = row.try_get(1)?;
        Ok(matches!(status.as_str(), "PENDING" | "FAILED").then(|| Duration::from_secs_f64(due_in.max(0.0))))
    }

    /// Hands a claimed row back unsent: due again now, no attempt spent (a zero deferral).
    async fn release(&self, id: i64) {
        let result: anyhow::Result<()> = async {
            let client = self.pool.get().await.context("getting a database connection")?;
            client
                .execute("SELECT 1 FROM qlink.finish_message($1, 'THROTTLED', retry_after => interval '0')", &[&id])
                .await
                .context("qlink.finish_message")?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(
                message_id = id,
                error = format!("{e:#}"),
                "handing a message back failed; it returns when its lease ends"
            );
        }
    }

    /// Wakes the dispatcher when a retried or deferred row falls due.
    fn schedule(&self, due_in: Duration) {
        // A little after the row's time: the claim compares with the database's clock.
        let at = Instant::now() + due_in + Duration::from_millis(50);
        let mut next_due = lock(&self.next_due);
        if next_due.is_none_or(|current| at < current) {
            *next_due = Some(at);
            drop(next_due);
            self.reschedule.notify_one();
        }
    }
}

/// `qlink_outbox_lag_seconds`, refreshed by its own task so that it keeps moving while the
/// dispatcher is blocked (every send slot held by a hanging API is exactly when it matters).
/// The age of the oldest due message comes from the extension's `qlink.outbox_lag_seconds()`
/// when it has one; without it, an estimate: how long claims have kept coming back full (a
/// backlog the worker has not caught up with), 0 otherwise.
struct LagGauge {
    pool: deadpool_postgres::Pool,
    /// Set by the dispatcher when a claim came back full, cleared when one did not.
    backlog_since: Arc<Mutex<Option<Instant>>>,
    /// Whether the extension has the lag function, and when that was last looked up (the
    /// extension may be upgraded while the worker runs).
    function_available: Option<(bool, Instant)>,
}

impl LagGauge {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(LAG_SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let seconds = match self.query_extension().await {
                Ok(Some(seconds)) => seconds,
                Ok(None) => lock(&self.backlog_since).map_or(0.0, |t| t.elapsed().as_secs_f64()),
                Err(e) => {
                    tracing::debug!(error = format!("{e:#}"), "sampling the outbox lag failed");
                    continue;
                }
            };
            metrics::gauge!("qlink_outbox_lag_seconds").set(seconds);
        }
    }

    /// The lag from the extension, or None when it has no such function.
    async fn query_extension(&mut self) -> anyhow::Result<Option<f64>> {
        let client = self.pool.get().await.context("getting a database connection")?;
        let known = self.function_available.filter(|(_, at)| at.elapsed() < Duration::from_secs(600));
        let available = match known {
            Some((available, _)) => available,
            None => {
                let available: bool = client
                    .query_one("SELECT to_regprocedure($1) IS NOT NULL", &[&format!("{OUTBOX_LAG_FUNCTION}()")])
                    .await
                    .context("looking up the outbox lag function")?
                    .try_get(0)?;
                self.function_available = Some((available, Instant::now()));
                available
            }
        };
        if !available {
            return Ok(None);
        }
        let row = client
            .query_one(&format!("SELECT {OUTBOX_LAG_FUNCTION}()::float8"), &[])
            .await
            .context(OUTBOX_LAG_FUNCTION)?;
        Ok(Some(row.try_get::<_, Option<f64>>(0)?.unwrap_or(0.0).max(0.0)))
    }
}

/// A token bucket pacing sends of one sender number (generic cell rate algorithm): at most
/// `burst` at once, then one every `1/rate` seconds. Slots are computed on absolute time, so
/// under a backlog the achieved rate is the configured one (no drift from timer lateness).
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    burst_window: Duration,
    /// The theoretical arrival time of the next send.
    next_slot: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: u32) -> Self {
        let interval = Duration::from_secs_f64(1.0 / per_second.max(1e-6));
        RateLimiter { interval, burst_window: interval * burst.saturating_sub(1), next_slot: Mutex::new(None) }
    }

    /// Waits until the caller may send. A caller cancelled while waiting leaves its slot
    /// unused (a short pause, never an excess).
    pub async fn until_ready(&self) {
        let slot = {
            let mut next_slot = lock(&self.next_slot);
            let now = Instant::now();
            let earliest = now.checked_sub(self.burst_window).unwrap_or(now);
            let slot = next_slot.map_or(earliest, |t| t.max(earliest));
            *next_slot = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// No send starts before `until` (the provider said it is overloaded: sends already
    /// scheduled would only be throttled too).
    pub fn pause_until(&self, until: Instant) {
        let mut next_slot = lock(&self.next_slot);
        *next_slot = Some(next_slot.map_or(until, |t| t.max(until)));
    }
}

/// The LISTEN connection: wake-ups, and the housekeeping lock.
struct Listener {
    config: tokio_postgres::Config,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    housekeeping: Arc<Housekeeping>,
}

impl Listener {
    async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        while !self.shutdown.is_cancelled() {
            let connected_at = Instant::now();
            let ended = tokio::select! {
                ended = self.session() => ended,
                // Also while connecting (up to the connect timeout).
                _ = self.shutdown.cancelled() => break,
            };
            match ended {
                Ok(()) => break, // shutdown
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "the worker's LISTEN connection was lost; reconnecting")
                }
            }
            // A session that lasted a while was healthy: start the backoff over.
            if connected_at.elapsed() > Duration::from_secs(60) {
                backoff.reset();
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.next_delay()) => {}
                _ = self.shutdown.cancelled() => break,
            }
        }
    }

    /// One connection's life. Returns Ok on shutdown, Err when the connection failed.
    async fn session(&self) -> anyhow::Result<()> {
        let (client, mut connection) = self.config.connect(NoTls).await.context("connecting")?;
        let (tx, mut notifications) = mpsc::channel::<()>(1);
        // The connection must be polled for notifications to arrive; forward them as
        // wake-ups (a full channel already holds one: nothing is lost).
        let mut driver = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => {
                        let _ = tx.try_send(());
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        let result = self.listen(&client, &mut notifications, &mut driver).await;
        drop(client);
        driver.abort();
        result
    }

    async fn listen(
        &self,
        client: &tokio_postgres::Client,
        notifications: &mut mpsc::Receiver<()>,
        driver: &mut tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    ) -> anyhow::Result<()> {
        client.batch_execute(&format!("LISTEN {}", crate::db::MESSAGES_CHANNEL)).await.context("LISTEN")?;
        tracing::debug!(channel = crate::db::MESSAGES_CHANNEL, "listening for message wake-ups");
        // Anything queued while we were not listening is picked up now.
        self.wake.notify_one();
        let mut housekeeper = false;
        let mut health = tokio::time::interval(LISTEN_HEALTH_INTERVAL);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = notifications.recv() => match received {
                    Some(()) => self.wake.notify_one(),
                    None => anyhow::bail!("the connection closed"),
                },
                ended = &mut *driver => {
                    return match ended {
                        Ok(Ok(())) => Err(anyhow::anyhow!("the connection closed")),
                        Ok(Err(e)) => Err(e).context("the connection failed"),
                        Err(e) => Err(e).context("the connection task failed"),
                    };
                }
                // The first tick is immediate: take the lock (and maybe housekeep) at once.
                _ = health.tick() => {
                    let check = tokio::time::timeout(Duration::from_secs(10), self.check(client, housekeeper)).await;
                    housekeeper = match check {
                        Ok(Ok(h)) => h,
                        Ok(Err(e)) => return Err(e),
                        Err(_) => anyhow::bail!("the connection stopped answering"),
                    };
                    if housekeeper {
                        self.housekeeping.clone().run_if_due(self.shutdown.clone());
                    }
                }
                _ = self.shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// Proves the connection alive and tries for the housekeeping lock; returns whether this
    /// session holds it (a session-level lock stays held until the connection ends).
    async fn check(&self, client: &tokio_postgres::Client, housekeeper: bool) -> anyhow::Result<bool> {
        if housekeeper {
            client.simple_query("SELECT 1").await.context("health check")?;
            return Ok(true);
        }
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&HOUSEKEEPING_LOCK_KEY])
            .await
            .context("pg_try_advisory_lock")?;
        let acquired: bool = row.try_get(0)?;
        if acquired {
            tracing::info!("this worker does the daily housekeeping");
        }
        Ok(acquired)
    }
}

/// The daily housekeeping, run by the worker holding the advisory lock.
struct Housekeeping {
    pool: deadpool_postgres::Pool,
    retention_days: i32,
    /// When it is due next (None: at once).
    next_run: Mutex<Option<Instant>>,
    /// Whether a run is in progress.
    running: AtomicBool,
}

impl Housekeeping {
    /// Starts a run in the background if one is due and none is running (the LISTEN loop
    /// must not stall on a long purge).
    fn run_if_due(self: Arc<Self>, shutdown: CancellationToken) {
        if lock(&self.next_run).is_some_and(|at| Instant::now() < at) {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(async move {
            let result = tokio::select! {
                result = self.run_once() => Some(result),
                _ = shutdown.cancelled() => None,
            };
            if let Some(result) = result {
                let next = match result {
                    Ok(()) => HOUSEKEEPING_INTERVAL,
                    Err(e) => {
                        tracing::error!(error = format!("{e:#}"), "housekeeping failed; trying again in an hour");
                        HOUSEKEEPING_RETRY
                    }
                };
                *lock(&self.next_run) = Some(Instant::now() + next);
            }
            self.running.store(false, Ordering::Release);
        });
    }

    async fn run_once(&self) -> anyhow::Result<()> {
        let client = self.pool.get().await.context("getting a database connection")?;
        let purged: i64 = client
            .query_one("SELECT qlink.purge_tokens(make_interval(days => $1))", &[&self.retention_days])
            .await
            .context("qlink.purge_tokens")?
            .try_get(0)?;
        let rate_limits: i64 = client
            .query_one("SELECT qlink.prune_rate_limits()", &[])
            .await
            .context("qlink.prune_rate_limits")?
            .try_get(0)?;
        let login_sessions: i64 = client
            .query_one("SELECT qlink.prune_login_sessions()", &[])
            .await
            .context("qlink.prune_login_sessions")?
            .try_get(0)?;
        tracing::info!(
            purged_tokens = purged,
            pruned_rate_limit_hits = rate_limits,
            pruned_login_sessions = login_sessions,
            retention_days = self.retention_days,
            "daily housekeeping done"
        );
        Ok(())
    }
}

/// Exponential backoff with jitter, so workers that lost the database together don't
/// reconnect in lockstep.
struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max, current: min }
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(self.max);
        let jitter: f64 = rand::Rng::gen_range(&mut rand::thread_rng(), 0.8..1.2);
        delay.mul_f64(jitter)
    }

    fn reset(&mut self) {
        self.current = self.min;
    }
}

/// Whether a database call failed with the extension's "not found" (SQLSTATE P0002).
fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::code)
            .is_some_and(|code| *code == tokio_postgres::error::SqlState::NO_DATA_FOUND)
    })
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

    #[tokio::test]
    async fn rate_limiter_paces_to_the_configured_rate() {
        let limiter = Arc::new(RateLimiter::new(200.0, 1));
        let start = std::time::Instant::now();
        let mut tasks = JoinSet::new();
        for _ in 0..101 {
            let limiter = limiter.clone();
            tasks.spawn(async move { limiter.until_ready().await });
        }
        while tasks.join_next().await.is_some() {}
        let elapsed = start.elapsed().as_secs_f64();
        // 100 intervals of 5 ms after the first, immediate, send.
        assert!(elapsed >= 0.495, "too fast: {elapsed}");
        assert!(elapsed < 0.75, "too slow: {elapsed}");
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
