//! The worker's LISTEN connection. It is dedicated, not pooled: a pooled connection is
//! recycled and shared, and a LISTEN on it would be lost or heard by the wrong user. A
//! notification is only a wake-up for the dispatcher, never a unit of work, so losing one
//! (while reconnecting, or sent while nobody listened) only delays a message until the next
//! poll. The connection also carries the housekeeping lock: a session-level advisory lock
//! ends with the session, so a worker that dies hands the housekeeping on without anyone
//! having to notice.

use super::housekeeping::{self, Housekeeping};
use super::Backoff;
use anyhow::Context as _;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

/// `application_name` of the LISTEN connection (operators and tests find it in
/// `pg_stat_activity`).
pub const LISTEN_APPLICATION_NAME: &str = "qlink-worker-listen";
/// How often the LISTEN connection is checked (a `SELECT 1`, so a silently dead TCP
/// connection is noticed) and a non-housekeeper tries to take the housekeeping lock.
const HEALTH_INTERVAL: Duration = Duration::from_secs(30);
/// How long a health check may take before the connection counts as dead.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// A session that lasted this long was healthy: the next loss starts the backoff over.
const HEALTHY_SESSION: Duration = Duration::from_secs(60);

/// The LISTEN connection: wake-ups, and the housekeeping lock.
pub(super) struct Listener {
    target: crate::db::Target,
    wake: Arc<Notify>,
    housekeeping: Arc<Housekeeping>,
    shutdown: CancellationToken,
}

impl Listener {
    pub(super) fn new(
        mut target: crate::db::Target,
        wake: Arc<Notify>,
        housekeeping: Arc<Housekeeping>,
        shutdown: CancellationToken,
    ) -> Self {
        target.config.application_name(LISTEN_APPLICATION_NAME);
        Listener { target, wake, housekeeping, shutdown }
    }

    /// Listens until shutdown, reconnecting with backoff whenever the connection is lost.
    pub(super) async fn run(self) {
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
            if connected_at.elapsed() > HEALTHY_SESSION {
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
        let tls = self.target.tls().context("TLS settings")?;
        let (client, mut connection) = self.target.config.connect(tls).await.context("connecting")?;
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
        let mut health = tokio::time::interval(HEALTH_INTERVAL);
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
                    let check = tokio::time::timeout(HEALTH_TIMEOUT, check(client, housekeeper)).await;
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
}

/// Proves the connection alive and, unless this session already holds it, tries for the
/// housekeeping lock; returns whether this session holds it.
async fn check(client: &tokio_postgres::Client, housekeeper: bool) -> anyhow::Result<bool> {
    if housekeeper {
        client.simple_query("SELECT 1").await.context("health check")?;
        return Ok(true);
    }
    let acquired = housekeeping::try_lock(client).await?;
    if acquired {
        tracing::info!("this worker does the daily housekeeping");
    }
    Ok(acquired)
}
