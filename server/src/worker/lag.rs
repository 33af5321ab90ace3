//! The backlog gauges, sampled on a timer of their own:
//! - `qlink_outbox_lag_seconds`: how long the oldest due message has been waiting, the one
//!   number that says whether patients get their messages in time;
//! - `qlink_sender_backlog{sender,state="pending|deferred|failed"}` and
//!   `qlink_sender_recipients_24h{sender}`: the same per sender number (`sender` is its phone
//!   number id, or `installation`), so one clinic's stuck number or exhausted daily
//!   recipient cap shows as that clinic's, not as everyone's lag.
//!
//! They come from the extension (`qlink.outbox_lag_seconds`, `qlink.sender_backlog`), so
//! they cover every worker's backlog and also move while this worker is stuck.

use super::senders::INSTALLATION_LABEL;
use crate::sql;
use anyhow::Context as _;
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the gauges are refreshed.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

pub(super) struct LagGauge {
    pool: deadpool_postgres::Pool,
    /// Senders given a value: one that leaves the backlog is set to 0, not left stale.
    senders_seen: HashSet<String>,
}

impl LagGauge {
    pub(super) fn new(pool: deadpool_postgres::Pool) -> Self {
        LagGauge { pool, senders_seen: HashSet::new() }
    }

    /// Samples until shutdown. A failed sample keeps the last values: a database that is
    /// briefly away says nothing about the backlog.
    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            match self.sample_lag().await {
                Ok(seconds) => metrics::gauge!("qlink_outbox_lag_seconds").set(seconds),
                Err(e) => tracing::debug!(error = format!("{e:#}"), "sampling the outbox lag failed"),
            }
            if let Err(e) = self.sample_senders().await {
                tracing::debug!(error = format!("{e:#}"), "sampling the senders' backlog failed");
            }
        }
    }

    async fn sample_lag(&self) -> anyhow::Result<f64> {
        let client = self.pool.get().await.context("getting a database connection")?;
        sql::outbox_lag_seconds(&client).await.context("qlink.outbox_lag_seconds")
    }

    async fn sample_senders(&mut self) -> anyhow::Result<()> {
        let client = self.pool.get().await.context("getting a database connection")?;
        let rows = sql::sender_backlog(&client).await.context("qlink.sender_backlog")?;
        drop(client);
        let mut seen = HashSet::new();
        for row in rows {
            let sender = row.phone_number_id.unwrap_or_else(|| INSTALLATION_LABEL.to_string());
            set_sender(&sender, row.pending as f64, row.deferred as f64, row.failed as f64, row.recipients_24h.into());
            seen.insert(sender);
        }
        for gone in self.senders_seen.difference(&seen) {
            set_sender(gone, 0.0, 0.0, 0.0, 0.0);
        }
        self.senders_seen = seen;
        Ok(())
    }
}

fn set_sender(sender: &str, pending: f64, deferred: f64, failed: f64, recipients_24h: f64) {
    for (state, value) in [("pending", pending), ("deferred", deferred), ("failed", failed)] {
        metrics::gauge!("qlink_sender_backlog", "sender" => sender.to_string(), "state" => state).set(value);
    }
    metrics::gauge!("qlink_sender_recipients_24h", "sender" => sender.to_string()).set(recipients_24h);
}
