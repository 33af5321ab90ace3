//! One send attempt of one claimed row, and its outcome recorded with
//! `qlink.finish_message`; the outbox owns the backoff and the attempt count, so this file
//! only reports what happened. A send never outlives its lease: it is cut short before the
//! lease ends (leaving room to record it), and a row whose lease is nearly spent before its
//! turn comes is handed back untouched, so another worker never sends a row while this one
//! still might.
//!
//! Order of the waits: first the sender number's own rate slot, then a send slot (the
//! bounded concurrency all senders share). The other way round, a slow number's rows would
//! sit in send slots waiting for their rate while a fast number's rows wait for a slot.
//! A row that cannot be sent at all (a token that does not open, a payload this worker
//! cannot word) fails before either wait: it costs no other message its turn.

use super::senders::{SenderState, Senders};
use super::Settings;
use crate::error::ApiError;
use crate::sql::{self, ClaimedMessage, MessageOutcome};
use crate::whatsapp::replies::reply_text;
use crate::whatsapp::{Lang, MessageType, OutboundMessage, SendOutcome, TokenFacts, PROVIDER_CLOUD};
use anyhow::Context as _;
use backon::{ExponentialBuilder, Retryable};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A row is sent only if at least this much of its lease is left; otherwise it is handed back.
const MIN_SEND_WINDOW: Duration = Duration::from_millis(250);
/// How long a number's sends pause when WhatsApp throttles one without saying for how long.
const THROTTLE_PAUSE: Duration = Duration::from_secs(1);
/// The longest a number's sends pause for one throttled answer (other messages may be
/// unaffected, e.g. by a per-recipient limit).
const MAX_THROTTLE_PAUSE: Duration = Duration::from_secs(5);
/// Recording an outcome is retried briefly (after 200 ms, then 800 ms): past that the row
/// comes back when its lease ends and is sent again (a duplicate the patient may see, never
/// a loss), and holding the send slot longer would only slow the others.
const FINISH_RETRIES: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(200))
    .with_factor(4.0)
    .with_max_delay(Duration::from_millis(800))
    .with_max_times(2);

/// Everything a send needs; shared by the send tasks.
pub(super) struct Sender {
    pool: deadpool_postgres::Pool,
    senders: Arc<Senders>,
    /// Tracking links in messages point here.
    public_url: String,
    /// HTTP requests in flight.
    send_slots: Semaphore,
    lease: Duration,
    /// Part of the lease kept free at its end for recording the outcome.
    send_margin: Duration,
    shutdown: CancellationToken,
}

impl Sender {
    pub(super) fn new(
        pool: deadpool_postgres::Pool,
        senders: Arc<Senders>,
        public_url: String,
        settings: &Settings,
        shutdown: CancellationToken,
    ) -> Self {
        Sender {
            pool,
            senders,
            public_url,
            send_slots: Semaphore::new(settings.concurrency),
            lease: settings.lease,
            send_margin: settings.send_margin(),
            shutdown,
        }
    }

    /// Sends one claimed row from its sender number and records the outcome. Returns how
    /// long until the row is due again when it still needs a send (a retry or a deferral).
    pub(super) async fn deliver(
        &self,
        row: ClaimedMessage,
        number: &SenderState,
        claimed_at: Instant,
    ) -> Option<Duration> {
        let send_deadline = claimed_at + self.lease.saturating_sub(self.send_margin);
        let message_type = MessageType::parse(&row.message_type);
        let type_label = message_type.map_or("UNKNOWN", MessageType::as_str);
        // A token that does not open can only be a clinic's own, sent through the Cloud API.
        let ready = match self.senders.provider(number, &row) {
            Err(reason) => Err((PROVIDER_CLOUD, reason.to_string())),
            Ok(provider) => match prepare(&row, message_type, &self.public_url) {
                Ok(message) => Ok((provider, message)),
                Err(reason) => Err((provider.name(), reason)),
            },
        };
        let (provider, message) = match ready {
            Ok(ready) => ready,
            Err((provider, reason)) => {
                let outcome = SendOutcome::Failed {
                    response: json!({"error": {"message": reason.clone(), "source": "qlink"}}),
                    reason,
                };
                return self.record(&row, number, type_label, provider, outcome).await;
            }
        };
        // The number's rate slot, then a send slot. Shutdown before the send starts hands
        // the row back at once instead of leaving it leased.
        let limiter = number.limiter();
        tokio::select! {
            _ = limiter.until_ready() => {}
            _ = self.shutdown.cancelled() => return self.release(row.id).await,
        }
        let slot = tokio::select! {
            slot = self.send_slots.acquire() => slot,
            _ = self.shutdown.cancelled() => return self.release(row.id).await,
        };
        let Ok(slot) = slot else { return self.release(row.id).await };
        let now = Instant::now();
        if now + MIN_SEND_WINDOW > send_deadline {
            tracing::warn!(
                message_id = row.id,
                sender = %number.label,
                "the lease was nearly spent before the message could be sent; handing it back"
            );
            return self.release(row.id).await;
        }
        let started = Instant::now();
        let outcome = match tokio::time::timeout(send_deadline - now, provider.send(&message)).await {
            Ok(outcome) => outcome,
            Err(_) => SendOutcome::Retry {
                reason: "no answer before the message's lease ran out".into(),
                response: json!({"error": {"message": "timeout waiting for the WhatsApp API", "source": "qlink"}}),
            },
        };
        metrics::histogram!("qlink_message_send_seconds").record(started.elapsed().as_secs_f64());
        drop(slot);
        if let SendOutcome::Throttled { retry_after, .. } = &outcome {
            // Meta paces each number: only this one slows down.
            let pause = retry_after.unwrap_or(THROTTLE_PAUSE).min(MAX_THROTTLE_PAUSE);
            limiter.pause_until(Instant::now() + pause);
        }
        self.record(&row, number, type_label, provider.name(), outcome).await
    }

    async fn record(
        &self,
        row: &ClaimedMessage,
        number: &SenderState,
        type_label: &'static str,
        provider: &'static str,
        outcome: SendOutcome,
    ) -> Option<Duration> {
        metrics::counter!("qlink_messages_total", "type" => type_label, "outcome" => outcome.metric_label())
            .increment(1);
        log_outcome(row, &number.label, type_label, &outcome);
        self.finish(row.id, provider, &outcome).await
    }

    /// Records the outcome; returns how long until the row is due again when it still needs
    /// a send.
    async fn finish(&self, id: i64, provider: &'static str, outcome: &SendOutcome) -> Option<Duration> {
        let record = MessageOutcome {
            outcome: outcome.finish_outcome(),
            provider: Some(provider),
            provider_message_id: outcome.provider_message_id(),
            provider_response: outcome.response(),
            retry_after: outcome.retry_after(),
        };
        let finished = (|| async {
            let client = self.pool.get().await.context("getting a database connection")?;
            sql::finish_message(&client, id, record).await.context("qlink.finish_message")
        })
        .retry(FINISH_RETRIES)
        .when(|e| !is_not_found(e))
        .notify(|e, _| {
            tracing::warn!(message_id = id, error = format!("{e:#}"), "recording a message outcome failed; retrying")
        })
        .await;
        match finished {
            Ok(finished) => finished.needs_send().then_some(finished.due_in),
            Err(e) if is_not_found(&e) => {
                // The clinic (and its messages) was deleted while we were sending.
                tracing::info!(message_id = id, "message deleted while it was being sent");
                None
            }
            Err(e) => {
                tracing::error!(
                    message_id = id,
                    error = format!("{e:#}"),
                    "recording a message outcome failed; it will be retried when its lease ends"
                );
                None
            }
        }
    }

    /// Hands a claimed row back unsent (`qlink.release_message`): due again now, no
    /// attempt spent. Returns None: the caller has nothing to schedule, the row is due at once.
    pub(super) async fn release(&self, id: i64) -> Option<Duration> {
        let result: anyhow::Result<_> = async {
            let client = self.pool.get().await.context("getting a database connection")?;
            sql::release_message(&client, id).await.context("qlink.release_message")
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(
                message_id = id,
                error = format!("{e:#}"),
                "handing a message back failed; it returns when its lease ends"
            );
        }
        None
    }
}

/// Turns an outbox row into the message to send; an error is permanent (the row itself is
/// unusable: it would fail the same way every time).
fn prepare(
    row: &ClaimedMessage,
    message_type: Option<MessageType>,
    public_url: &str,
) -> Result<OutboundMessage, String> {
    let message_type = message_type.ok_or_else(|| format!("unknown message type {:?}", row.message_type))?;
    let to_phone = row.to_phone.as_deref().filter(|p| !p.trim().is_empty()).ok_or("the message has no phone number")?;
    let language = Lang::stored(&row.language);
    match message_type {
        MessageType::Reply => {
            Ok(OutboundMessage::text(to_phone, language, reply_text(&row.payload, language, public_url)?))
        }
        MessageType::Welcome | MessageType::Reminder | MessageType::Called | MessageType::Delay => {
            let facts = token_facts(row, message_type, public_url)?;
            OutboundMessage::template(message_type, to_phone, language, &facts)
                .ok_or_else(|| format!("no template for {}", message_type.as_str()))
        }
    }
}

fn token_facts(row: &ClaimedMessage, message_type: MessageType, public_url: &str) -> Result<TokenFacts, String> {
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
    // Rows queued before 0.2 have no label: their number is their label.
    let token_label = row
        .payload
        .get("token_label")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map_or_else(|| token_number.to_string(), str::to_string);
    let room_name = row.payload.get("room_name").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let token_id = row.token_id.ok_or("the message has no token_id")?;
    // Null for messages queued without a position; 0 is the honest default.
    let people_ahead =
        row.payload.get("people_ahead").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok()).unwrap_or(0);
    let delay_minutes =
        row.payload.get("delay_minutes").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok()).filter(|m| *m > 0);
    if message_type == MessageType::Delay && delay_minutes.is_none() {
        return Err("the DELAY message payload has no delay_minutes".into());
    }
    Ok(TokenFacts {
        clinic_name,
        token_label,
        room_name,
        tracking_url: format!("{public_url}/t/{token_id}"),
        people_ahead,
        delay_minutes,
    })
}

fn log_outcome(row: &ClaimedMessage, sender: &str, message_type: &str, outcome: &SendOutcome) {
    let attempt = row.attempts + 1;
    match outcome {
        SendOutcome::Sent { provider_message_id, .. } => tracing::debug!(
            message_id = row.id,
            sender,
            message_type,
            provider_message_id = provider_message_id.as_deref().unwrap_or(""),
            "message sent"
        ),
        SendOutcome::Retry { reason, .. } => {
            tracing::warn!(message_id = row.id, sender, message_type, attempt, reason = %reason, "message send failed; will retry")
        }
        SendOutcome::Throttled { retry_after, .. } => tracing::warn!(
            message_id = row.id,
            sender,
            message_type,
            retry_after_seconds = retry_after.map(|d| d.as_secs()),
            "WhatsApp throttled the send; deferring the message"
        ),
        SendOutcome::Failed { reason, .. } => {
            tracing::warn!(message_id = row.id, sender, message_type, reason = %reason, "message failed permanently")
        }
    }
}

/// Whether a database call failed with the extension's "not found" (the row is gone).
fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<ApiError>(), Some(ApiError::NotFound(_)))
}
