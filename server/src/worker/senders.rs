//! The sender numbers this worker sends from: the installation's (`WHATSAPP_PHONE_NUMBER_ID`
//! and `WHATSAPP_ACCESS_TOKEN`, or the log when neither is set) and every clinic's own
//! (`whatsapp_senders`, arriving with the claimed rows). Per sender it keeps what must not be
//! shared between numbers: the rate limiter (Meta paces each number on its own, so a
//! throttled or slow number pauses only itself), the count of claimed-but-unfinished rows
//! and its bound, and the Cloud API client with the sender's decrypted token.
//!
//! A clinic's own token arrives sealed (`crypto::SecretKey`, associated data the phone
//! number id). One that does not open — QLINK_SECRET_KEY changed, or is not configured —
//! fails that clinic's messages with a reason the operator sees in `provider_response`;
//! every other sender goes on. The token itself is never logged.

use super::pace::RateLimiter;
use super::{lock, Settings};
use crate::config::{Secret, WhatsAppArgs};
use crate::crypto::SecretKey;
use crate::sql::ClaimedMessage;
use crate::whatsapp::{http_client, CloudApi, Provider};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The `full_senders` key (and the `sender` label's) of the installation's number.
pub(super) const INSTALLATION_KEY: &str = "";
pub(super) const INSTALLATION_LABEL: &str = "installation";

/// `provider_response.error.message` when a clinic's own token cannot be used.
pub(super) const UNDECRYPTABLE_TOKEN: &str =
    "the clinic's WhatsApp access token cannot be decrypted (QLINK_SECRET_KEY changed?)";
pub(super) const NO_SECRET_KEY: &str =
    "the clinic's WhatsApp access token is stored but QLINK_SECRET_KEY is not configured";

pub(super) struct Senders {
    http: reqwest::Client,
    api_base: String,
    api_version: String,
    /// The installation's sender: the Cloud API or the log.
    installation: Provider,
    installation_token: Option<Secret>,
    secret_key: Option<SecretKey>,
    default_rate: f64,
    settings: Settings,
    by_key: Mutex<HashMap<String, Arc<SenderState>>>,
    /// Signalled when a sender that held its bound of rows has room again.
    pub(super) room: Notify,
}

/// One sender number.
pub(super) struct SenderState {
    /// `''` for the installation, else the phone number id.
    pub(super) key: String,
    /// The `sender` metric label.
    pub(super) label: String,
    pace: Mutex<Pace>,
    /// Claimed-but-unfinished rows.
    outstanding: AtomicUsize,
    /// The clinic sender's Cloud API, with the sealed token it was made from.
    client: Mutex<Option<(Option<Vec<u8>>, CloudApi)>>,
}

struct Pace {
    rate: f64,
    limiter: Arc<RateLimiter>,
    /// Most claimed-but-unfinished rows (`Settings::max_outstanding_at` of the rate).
    bound: usize,
}

impl Senders {
    pub(super) fn new(whatsapp: &WhatsAppArgs, settings: &Settings) -> anyhow::Result<Senders> {
        let http = http_client()?;
        let installation = Provider::installation(whatsapp, http.clone())?;
        Ok(Senders {
            installation,
            http,
            api_base: whatsapp.whatsapp_api_base.clone(),
            api_version: whatsapp.whatsapp_api_version.clone(),
            installation_token: whatsapp.whatsapp_access_token.clone().filter(|t| !t.expose().trim().is_empty()),
            secret_key: whatsapp.secret_key()?,
            default_rate: settings.rate_per_second,
            settings: settings.clone(),
            by_key: Mutex::new(HashMap::new()),
            room: Notify::new(),
        })
    }

    pub(super) fn installation_name(&self) -> &'static str {
        self.installation.name()
    }

    pub(super) fn has_secret_key(&self) -> bool {
        self.secret_key.is_some()
    }

    /// The row's sender, made on first sight; its rate follows the row's `sender_rate`
    /// (an operator may change it while the worker runs).
    pub(super) fn of(&self, row: &ClaimedMessage) -> Arc<SenderState> {
        let key = row.sender_phone_number_id.clone().unwrap_or_else(|| INSTALLATION_KEY.to_string());
        let rate = row.sender_rate.map(f64::from).filter(|r| r.is_finite() && *r > 0.0).unwrap_or(self.default_rate);
        let sender = {
            let mut by_key = lock(&self.by_key);
            by_key
                .entry(key.clone())
                .or_insert_with(|| {
                    let label = if key.is_empty() { INSTALLATION_LABEL.to_string() } else { key.clone() };
                    Arc::new(SenderState {
                        key,
                        label,
                        pace: Mutex::new(self.pace(rate)),
                        outstanding: AtomicUsize::new(0),
                        client: Mutex::new(None),
                    })
                })
                .clone()
        };
        let mut pace = lock(&sender.pace);
        if (pace.rate - rate).abs() > f64::EPSILON {
            *pace = self.pace(rate);
        }
        drop(pace);
        sender
    }

    fn pace(&self, rate: f64) -> Pace {
        Pace { rate, limiter: Arc::new(RateLimiter::new(rate, 1)), bound: self.settings.max_outstanding_at(rate) }
    }

    /// The senders that hold enough claimed rows: the claim leaves theirs alone. "Enough"
    /// starts a little below the bound, so a claim is worth its round trip.
    ///
    /// Also returns how many rows the known senders that are not full have room for: the
    /// claim asks for no more than that (and at least `claim_chunk / 2`, for numbers not
    /// seen yet), so it rarely hands a sender more rows than it may hold, which would only
    /// be handed back.
    pub(super) fn full(&self, claim_chunk: usize) -> (Vec<String>, usize) {
        let by_key = lock(&self.by_key);
        let mut full = Vec::new();
        let mut room = 0;
        for s in by_key.values() {
            let free = s.room();
            if free < s.low_water(claim_chunk) {
                full.push(s.key.clone());
            } else {
                room += free;
            }
        }
        (full, room.max((claim_chunk / 2).max(1)))
    }

    /// Where the row goes; an error is the reason it cannot be sent at all (permanent).
    pub(super) fn provider(&self, sender: &SenderState, row: &ClaimedMessage) -> Result<Provider, &'static str> {
        let Some(phone_number_id) = row.sender_phone_number_id.as_deref() else {
            return Ok(self.installation.clone());
        };
        let sealed = row.access_token_enc.clone();
        let mut cached = lock(&sender.client);
        if let Some((was_sealed, api)) = cached.as_ref() {
            if *was_sealed == sealed {
                return Ok(Provider::Cloud(api.clone()));
            }
        }
        let token = match &sealed {
            None => match &self.installation_token {
                Some(token) => token.clone(),
                // No token anywhere: the installation runs without credentials.
                None => return Ok(Provider::Log),
            },
            Some(sealed) => {
                let key = self.secret_key.as_ref().ok_or(NO_SECRET_KEY)?;
                let plain = key.open(phone_number_id.as_bytes(), sealed).map_err(|_| UNDECRYPTABLE_TOKEN)?;
                Secret::new(String::from_utf8(plain).map_err(|_| UNDECRYPTABLE_TOKEN)?)
            }
        };
        let api = CloudApi::with_client(self.http.clone(), &self.api_base, &self.api_version, phone_number_id, token);
        *cached = Some((sealed, api.clone()));
        Ok(Provider::Cloud(api))
    }

    /// Counts a claimed row against its sender; false when the sender already holds its bound
    /// (the row is to be handed back).
    pub(super) fn take(&self, sender: &SenderState) -> bool {
        let bound = lock(&sender.pace).bound;
        sender.outstanding.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < bound).then_some(n + 1)).is_ok()
    }

    /// A row of the sender is finished (or handed back).
    pub(super) fn done(&self, sender: &SenderState, claim_chunk: usize) {
        let before = sender.outstanding.fetch_sub(1, Ordering::AcqRel);
        let bound = lock(&sender.pace).bound;
        // The moment the sender stops counting as full, the dispatcher may claim for it.
        if bound.saturating_sub(before) + 1 == sender.low_water(claim_chunk) {
            self.room.notify_one();
        }
    }
}

impl SenderState {
    pub(super) fn limiter(&self) -> Arc<RateLimiter> {
        lock(&self.pace).limiter.clone()
    }

    fn room(&self) -> usize {
        lock(&self.pace).bound.saturating_sub(self.outstanding.load(Ordering::Acquire))
    }

    /// Half a claim's worth, or half the bound for a slow sender.
    fn low_water(&self, claim_chunk: usize) -> usize {
        (lock(&self.pace).bound.min(claim_chunk) / 2).max(1)
    }
}
