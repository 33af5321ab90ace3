//! Sliding-window rate limits, one row per accepted hit. Hits for one key are serialised
//! by a transaction-scoped advisory lock, so concurrent callers can't both slip under.

use crate::db;
use crate::error::{invalid_argument, run, QResult};
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{Inet, Uuid};
use std::net::IpAddr;

fn lock_key(client: &mut SpiClient<'_>, key: &str) -> QResult<()> {
    db::exec(client, "SELECT pg_advisory_xact_lock(hashtextextended('qlink.rate:' || $1, 0))", &[key.into()])?;
    Ok(())
}

fn record_hit(client: &mut SpiClient<'_>, key: &str, now: TimestampWithTimeZone) -> QResult<()> {
    db::exec(client, "INSERT INTO qlink.rate_limit_hits (key, hit_at) VALUES ($1, $2)", &[key.into(), now.into()])?;
    Ok(())
}

/// Whom a per-address limit counts: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber's network: a phone or a home router picks any address within it at will, so
/// counting single IPv6 addresses counts nothing). IPv4-mapped IPv6 addresses count as
/// their IPv4 address.
pub fn source_of(ip: &Inet) -> String {
    let text = ip.0.split('/').next().unwrap_or(&ip.0);
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => text.to_string(),
    }
}

/// The installation's intake window across clinics (`qlink.installation_limits`).
pub fn intake_per_source_across_clinics(client: &mut SpiClient<'_>) -> QResult<i64> {
    let n: Option<i32> = db::value(client, "SELECT intake_per_source_per_10min FROM qlink.installation_limits", &[])?;
    Ok(i64::from(n.unwrap_or(20)))
}

/// The two intake windows a source's token counts in: this clinic's, and every clinic's.
pub fn intake_keys(business_id: Uuid, ip: &Inet) -> (String, String) {
    let source = source_of(ip);
    (format!("create_token:{business_id}:{source}"), format!("create_token:any:{source}"))
}

/// A source's attempt that was refused after its windows were checked (the number already
/// has its tokens today) still counts in both: the refusal rolled the hits back with the
/// rest, and a prober asking about phone after phone would otherwise pay nothing.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn charge_refused_intake(business_id: Option<Uuid>, client_ip: Option<Inet>) -> Result<bool, ErrorReport> {
    run(|| {
        let (Some(business_id), Some(ip)) = (business_id, client_ip) else {
            return Ok(false);
        };
        let (here, everywhere) = intake_keys(business_id, &ip);
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            for key in [&here, &everywhere] {
                record(client, key, now)?;
            }
            Ok(true)
        })
    })
}

/// Sets the installation's intake window across clinics (tokens per source per 10
/// minutes); audited. Returns the new value.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn set_intake_limit_across_clinics(
    per_10min: Option<i32>,
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<i32, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let limit = per_10min.filter(|n| (1..=100_000).contains(n)).ok_or_else(|| {
            invalid_argument("The intake limit across clinics must be from 1 to 100,000 per 10 minutes.")
        })?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let old: Option<i32> = db::value(
                client,
                "WITH old AS (SELECT intake_per_source_per_10min FROM qlink.installation_limits FOR UPDATE) \
                 UPDATE qlink.installation_limits l SET intake_per_source_per_10min = $1, updated_at = $2 FROM old \
                 RETURNING old.intake_per_source_per_10min",
                &[limit.into(), now.into()],
            )?;
            crate::accounts::write_admin_audit_of(
                client,
                actor_email,
                actor_ip.as_ref(),
                "INTAKE_LIMIT_SET",
                "installation",
                None,
                serde_json::json!({"from": old, "to": limit}),
                now,
            )?;
            Ok(limit)
        })
    })
}

/// The installation's window across clinics: the source's tokens at *other* clinics in
/// the last 10 minutes stay under `qlink.installation_limits` (a clinic's own kiosk, all
/// patients on the clinic's Wi-Fi, is that clinic's own `ip_tokens_per_10min`). Call after
/// the hit in `here` was recorded; records the hit in `everywhere` when it is allowed.
pub fn hit_elsewhere(
    client: &mut SpiClient<'_>,
    everywhere: &str,
    here: &str,
    now: TimestampWithTimeZone,
) -> QResult<bool> {
    lock_key(client, everywhere)?;
    let cap = intake_per_source_across_clinics(client)?;
    let elsewhere: i64 = db::value(
        client,
        "SELECT count(*) FILTER (WHERE key = $1) - (count(*) FILTER (WHERE key = $2) - 1) \
         FROM qlink.rate_limit_hits WHERE key IN ($1, $2) AND hit_at > $3 - interval '10 minutes'",
        &[everywhere.into(), here.into(), now.into()],
    )?
    .unwrap_or(0);
    if elsewhere >= cap {
        return Ok(false);
    }
    record_hit(client, everywhere, now)?;
    Ok(true)
}

/// A hit in a clinic's 10-minute intake window (`ip_tokens_per_10min`).
pub fn hit_ten_minutes(
    client: &mut SpiClient<'_>,
    key: &str,
    max_hits: i64,
    now: TimestampWithTimeZone,
) -> QResult<bool> {
    hit_within(client, key, max_hits, 600, now)
}

/// Records a hit for `key` if fewer than `max_hits` were accepted in the last `seconds`.
pub fn hit_within(
    client: &mut SpiClient<'_>,
    key: &str,
    max_hits: i64,
    seconds: i32,
    now: TimestampWithTimeZone,
) -> QResult<bool> {
    lock_key(client, key)?;
    if count_within(client, key, seconds, now)? >= max_hits {
        return Ok(false);
    }
    record_hit(client, key, now)?;
    Ok(true)
}

/// Records a hit for `key` whatever its count (under the key's lock, as every hit).
pub fn record(client: &mut SpiClient<'_>, key: &str, now: TimestampWithTimeZone) -> QResult<()> {
    lock_key(client, key)?;
    record_hit(client, key, now)
}

/// How many hits `key` had in the last `seconds`.
pub fn count_within(client: &SpiClient<'_>, key: &str, seconds: i32, now: TimestampWithTimeZone) -> QResult<i64> {
    let hits: Option<i64> = db::read_value(
        client,
        "SELECT count(*) FROM qlink.rate_limit_hits WHERE key = $1 AND hit_at > $2 - make_interval(secs => $3)",
        &[key.into(), now.into(), f64::from(seconds).into()],
    )?;
    Ok(hits.unwrap_or(0))
}

/// How many hits `key` has had within the last `window_size` (recording nothing): the
/// login throttle's failure count.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn rate_limit_count(key: Option<&str>, window_size: Option<Interval>) -> Result<i64, ErrorReport> {
    run(|| {
        let key = key
            .filter(|k| !k.is_empty() && k.len() <= 500)
            .ok_or_else(|| invalid_argument("key must be 1–500 characters."))?;
        let window = window_size.ok_or_else(|| invalid_argument("window_size is required."))?;
        Spi::connect(|client| {
            let now = crate::clock::now(client)?;
            let n: Option<i64> = db::read_value(
                client,
                "SELECT count(*) FROM qlink.rate_limit_hits WHERE key = $1 AND hit_at > $2 - $3",
                &[key.into(), now.into(), window.into()],
            )?;
            Ok(n.unwrap_or(0))
        })
    })
}

/// Records a hit for `key` and answers true, or answers false (recording nothing) once
/// `max_hits` hits were accepted within the last `window_size`.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn check_rate_limit(
    key: Option<&str>,
    max_hits: Option<i32>,
    window_size: Option<Interval>,
) -> Result<bool, ErrorReport> {
    run(|| {
        let key = key
            .filter(|k| !k.is_empty() && k.len() <= 500)
            .ok_or_else(|| invalid_argument("key must be 1–500 characters."))?;
        let max_hits =
            max_hits.filter(|m| *m >= 0).ok_or_else(|| invalid_argument("max_hits must be zero or more."))?;
        let window = window_size.ok_or_else(|| invalid_argument("window_size is required."))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let positive: bool = db::value(client, "SELECT $1 > interval '0'", &[window.into()])?.unwrap_or(false);
            if !positive {
                return Err(invalid_argument("window_size must be positive."));
            }
            lock_key(client, key)?;
            let hits: i64 = db::value(
                client,
                "SELECT count(*) FROM qlink.rate_limit_hits WHERE key = $1 AND hit_at > $2 - $3",
                &[key.into(), now.into(), window.into()],
            )?
            .unwrap_or(0);
            if hits >= i64::from(max_hits) {
                return Ok(false);
            }
            record_hit(client, key, now)?;
            Ok(true)
        })
    })
}

/// Deletes hits older than `older_than` (the longest window in use). Housekeeping.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn prune_rate_limits(older_than: default!(Option<Interval>, "'1 day'")) -> Result<i64, ErrorReport> {
    run(|| {
        let older_than = older_than.ok_or_else(|| invalid_argument("older_than is required."))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let n: Option<i64> = db::value(
                client,
                "WITH gone AS (DELETE FROM qlink.rate_limit_hits WHERE hit_at < $1 - $2 RETURNING 1) \
                 SELECT count(*) FROM gone",
                &[now.into(), older_than.into()],
            )?;
            Ok(n.unwrap_or(0))
        })
    })
}
