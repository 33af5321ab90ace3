//! The daily housekeeping: the reports' rollups (`qlink.write_rollups`), the retention
//! purge (`qlink.purge_tokens`) and the pruning of old rate-limit hits and expired logins;
//! and, at every health check (30 s), the holds that ran out (`qlink.expire_holds`, SPEC
//! §12: a patient away too long is SKIPPED even when nobody presses anything).
//! Any number of workers may run, and exactly one of them should do this: the one whose
//! LISTEN session holds a PostgreSQL advisory lock (see `listen`). The lock needs no lease
//! or heartbeat of its own: it ends with the session, so when that worker dies another
//! takes the lock at its next health check.

use super::lock;
use crate::sql;
use anyhow::Context as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The session-level advisory lock held by the one worker that does the housekeeping
/// (the bytes of "qlinkhkp").
pub const HOUSEKEEPING_LOCK_KEY: i64 = 0x716c_696e_6b68_6b70;
/// How often the housekeeping runs.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// After a failed run, try again this much later rather than tomorrow.
const HOUSEKEEPING_RETRY: Duration = Duration::from_secs(60 * 60);

/// Tries for the housekeeping lock on `client`'s session (the LISTEN connection); returns
/// whether the session holds it now. A session-level lock stays held until the session ends.
pub(super) async fn try_lock(client: &tokio_postgres::Client) -> anyhow::Result<bool> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1) AS acquired", &[&HOUSEKEEPING_LOCK_KEY])
        .await
        .context("pg_try_advisory_lock")?;
    Ok(row.try_get("acquired")?)
}

/// The daily housekeeping, run by the worker holding the advisory lock.
pub(super) struct Housekeeping {
    pool: deadpool_postgres::Pool,
    retention_days: i32,
    /// When it is due next (None: at once).
    next_run: Mutex<Option<Instant>>,
    /// Whether a run is in progress.
    running: AtomicBool,
    /// Whether a sweep of run-out holds is in progress.
    sweeping: AtomicBool,
}

impl Housekeeping {
    pub(super) fn new(pool: deadpool_postgres::Pool, retention_days: i32) -> Self {
        Housekeeping {
            pool,
            retention_days,
            next_run: Mutex::new(None),
            running: AtomicBool::new(false),
            sweeping: AtomicBool::new(false),
        }
    }

    /// Starts a run in the background if one is due and none is running (the LISTEN loop
    /// must not stall on a long purge).
    pub(super) fn run_if_due(self: Arc<Self>, shutdown: CancellationToken) {
        self.clone().expire_holds(shutdown.clone());
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

    /// Runs `qlink.expire_holds()` in the background unless a sweep is still running.
    fn expire_holds(self: Arc<Self>, shutdown: CancellationToken) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(async move {
            let sweep = async {
                let client = self.pool.get().await.context("getting a database connection")?;
                sql::expire_holds(&client).await.context("qlink.expire_holds")
            };
            tokio::select! {
                result = sweep => match result {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired_holds = n, "holds that ran out: tokens skipped"),
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "expiring holds failed; trying again at the next check"),
                },
                _ = shutdown.cancelled() => {}
            }
            self.sweeping.store(false, Ordering::Release);
        });
    }

    async fn run_once(&self) -> anyhow::Result<()> {
        let client = self.pool.get().await.context("getting a database connection")?;
        // The reports' rollups first: they keep a day's figures once its patients' data is purged.
        let rollups = sql::write_rollups(&client).await.context("qlink.write_rollups")?;
        let purged = sql::purge_tokens(&client, self.retention_days).await.context("qlink.purge_tokens")?;
        let rate_limits = sql::prune_rate_limits(&client).await.context("qlink.prune_rate_limits")?;
        let login_sessions = sql::prune_login_sessions(&client).await.context("qlink.prune_login_sessions")?;
        tracing::info!(
            rollups_written = rollups,
            purged_tokens = purged,
            pruned_rate_limit_hits = rate_limits,
            pruned_login_sessions = login_sessions,
            retention_days = self.retention_days,
            "daily housekeeping done"
        );
        Ok(())
    }
}
