//! `qlink_outbox_lag_seconds`: how long the oldest due message has been waiting, the one
//! number that says whether patients get their messages in time. It comes from the
//! extension (`qlink.outbox_lag_seconds`), so it covers every worker's backlog and also
//! moves while this worker is stuck; the worker only samples it on a timer of its own.

use crate::sql;
use anyhow::Context as _;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the gauge is refreshed.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

pub(super) struct LagGauge {
    pool: deadpool_postgres::Pool,
}

impl LagGauge {
    pub(super) fn new(pool: deadpool_postgres::Pool) -> Self {
        LagGauge { pool }
    }

    /// Samples the lag until shutdown. A failed sample keeps the last value: a database
    /// that is briefly away says nothing about the backlog.
    pub(super) async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            match self.sample().await {
                Ok(seconds) => metrics::gauge!("qlink_outbox_lag_seconds").set(seconds),
                Err(e) => tracing::debug!(error = format!("{e:#}"), "sampling the outbox lag failed"),
            }
        }
    }

    async fn sample(&self) -> anyhow::Result<f64> {
        let client = self.pool.get().await.context("getting a database connection")?;
        sql::outbox_lag_seconds(&client).await.context("qlink.outbox_lag_seconds")
    }
}
