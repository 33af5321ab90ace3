//! The dispatcher: claims due rows from the outbox and hands each to a send task. Claims are
//! leases (`qlink.claim_messages`, `FOR UPDATE SKIP LOCKED`), so the only state worth
//! keeping here is what bounds the work: how many rows each sender number has claimed and
//! not yet finished (so the last of them still gets its turn at that number's rate well
//! within its lease; the senders at their bound are passed as `full_senders`, so a slow
//! number's backlog never fills the worker while a fast one's waits), which rows this worker
//! holds (so a row whose lease ran out while it was being recorded is not sent twice by us),
//! and when the earliest retry the outbox told us about falls due (so a retry does not wait
//! for the next poll).

use super::send::Sender;
use super::senders::Senders;
use super::{lock, Backoff, Settings};
use crate::sql::{self, ClaimedMessage};
use crate::whatsapp::REQUEST_TIMEOUT;
use anyhow::Context as _;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for the sends in flight (they are bounded by the request timeout).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(REQUEST_TIMEOUT.as_secs() + 5);
/// A retry is claimed a little after its time: the claim compares with the database's clock.
const DUE_SLACK: Duration = Duration::from_millis(50);

pub(super) struct Dispatcher {
    pool: deadpool_postgres::Pool,
    sender: Arc<Sender>,
    senders: Arc<Senders>,
    /// A LISTEN notification arrived (or the listener reconnected).
    wake: Arc<Notify>,
    schedule: Arc<Schedule>,
    /// Ids of the rows this worker holds.
    in_flight: Arc<Mutex<HashSet<i64>>>,
    /// Claimed-but-unfinished rows of all senders (each sender has its own bound besides:
    /// `Settings::max_outstanding_at` its rate).
    outstanding: Arc<Semaphore>,
    claim_chunk: usize,
    lease: Duration,
    poll: Duration,
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
}

impl Dispatcher {
    pub(super) fn new(
        pool: deadpool_postgres::Pool,
        sender: Sender,
        senders: Arc<Senders>,
        settings: &Settings,
        wake: Arc<Notify>,
        shutdown: CancellationToken,
    ) -> Self {
        let max_outstanding = settings.max_outstanding_all();
        Dispatcher {
            pool,
            sender: Arc::new(sender),
            senders,
            wake,
            schedule: Arc::new(Schedule::default()),
            in_flight: Arc::new(Mutex::new(HashSet::new())),
            outstanding: Arc::new(Semaphore::new(max_outstanding)),
            claim_chunk: (settings.batch_size as usize).min(settings.max_outstanding()),
            lease: settings.lease,
            poll: settings.poll,
            tasks: JoinSet::new(),
            shutdown,
        }
    }

    /// Claims and dispatches until shutdown, then finishes (bounded) what is in flight.
    pub(super) async fn run(mut self) {
        let shutdown = self.shutdown.clone();
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
            let (full_senders, senders_room) = self.senders.full(self.claim_chunk);
            let room = self.claim_chunk.min(self.outstanding.available_permits()).min(senders_room);
            match self.claim(room, &full_senders).await {
                Ok(rows) => {
                    errors.reset();
                    let full = rows.len() == room;
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
    }

    /// Waits for a notification, the next poll, the earliest known retry, or shutdown.
    async fn idle(&self) {
        let poll_at = Instant::now() + self.poll;
        let wake_at = self.schedule.due_at().map_or(poll_at, |due| due.min(poll_at));
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at) => {}
            _ = self.schedule.moved_earlier.notified() => {}
            _ = self.senders.room.notified() => {}
            _ = self.shutdown.cancelled() => {}
        }
        self.schedule.forget_past();
    }

    async fn claim(&self, max_rows: usize, full_senders: &[String]) -> anyhow::Result<Vec<ClaimedMessage>> {
        let client = self.pool.get().await.context("getting a database connection")?;
        let max_rows = i32::try_from(max_rows).unwrap_or(i32::MAX);
        sql::claim_messages(&client, max_rows, self.lease, full_senders).await.context("qlink.claim_messages")
    }

    fn spawn_send(&mut self, row: ClaimedMessage) {
        let claimed_at = Instant::now();
        if !lock(&self.in_flight).insert(row.id) {
            // Still ours from an earlier claim (its lease ran out while recording it); the
            // running task finishes it.
            tracing::warn!(
                message_id = row.id,
                "message claimed again while still in flight; leaving it to the first send"
            );
            return;
        }
        let guard = InFlight { set: self.in_flight.clone(), id: row.id };
        let sender = self.sender.clone();
        let number = self.senders.of(&row);
        if !self.senders.take(&number) {
            // The claim gave this sender more rows than it has room for (it was not full
            // when the claim began): hand the surplus back rather than hold rows it cannot
            // send within their lease. The next claim names it in `full_senders`.
            self.tasks.spawn(async move {
                sender.release(row.id).await;
                drop(guard);
            });
            return;
        }
        let counted =
            SenderRow { senders: self.senders.clone(), sender: number.clone(), claim_chunk: self.claim_chunk };
        let Ok(permit) = self.outstanding.clone().try_acquire_owned() else {
            // Cannot happen (we never claim more than the free permits), but never panic:
            // hand the row back.
            self.tasks.spawn(async move {
                sender.release(row.id).await;
                drop(counted);
                drop(guard);
            });
            return;
        };
        let schedule = self.schedule.clone();
        self.tasks.spawn(async move {
            if let Some(due_in) = sender.deliver(row, &number, claimed_at).await {
                schedule.wake_in(due_in);
            }
            drop(permit);
            drop(counted);
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
    /// Rows not yet started hand themselves back (their tasks see the shutdown).
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
    set: Arc<Mutex<HashSet<i64>>>,
    id: i64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.id);
    }
}

/// A row counted against its sender's bound until its task ends (also when aborted).
struct SenderRow {
    senders: Arc<Senders>,
    sender: Arc<super::senders::SenderState>,
    claim_chunk: usize,
}

impl Drop for SenderRow {
    fn drop(&mut self) {
        self.senders.done(&self.sender, self.claim_chunk);
    }
}

/// The earliest retry or deferral the outbox told us about.
#[derive(Default)]
struct Schedule {
    next_due: Mutex<Option<Instant>>,
    /// Signalled when `next_due` moved earlier.
    moved_earlier: Notify,
}

impl Schedule {
    /// Wakes the dispatcher when a row that is due again in `due_in` falls due.
    fn wake_in(&self, due_in: Duration) {
        let at = Instant::now() + due_in + DUE_SLACK;
        let mut next_due = lock(&self.next_due);
        if next_due.is_none_or(|current| at < current) {
            *next_due = Some(at);
            drop(next_due);
            self.moved_earlier.notify_one();
        }
    }

    fn due_at(&self) -> Option<Instant> {
        *lock(&self.next_due)
    }

    /// Forgets a due time that has passed (the claim that follows picks its row up).
    fn forget_past(&self) {
        let mut next_due = lock(&self.next_due);
        if next_due.is_some_and(|due| due <= Instant::now()) {
            *next_due = None;
        }
    }
}
