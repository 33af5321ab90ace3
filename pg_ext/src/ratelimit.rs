//! Sliding-window rate limits, one row per accepted hit. Hits for one key are serialised
//! by a transaction-scoped advisory lock, so concurrent callers can't both slip under.

use crate::db;
use crate::error::{invalid_argument, run, QResult};
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

fn lock_key(client: &mut SpiClient<'_>, key: &str) -> QResult<()> {
    db::exec(client, "SELECT pg_advisory_xact_lock(hashtextextended('qlink.rate:' || $1, 0))", &[key.into()])?;
    Ok(())
}

fn record_hit(client: &mut SpiClient<'_>, key: &str, now: TimestampWithTimeZone) -> QResult<()> {
    db::exec(client, "INSERT INTO qlink.rate_limit_hits (key, hit_at) VALUES ($1, $2)", &[key.into(), now.into()])?;
    Ok(())
}

/// The per-(clinic, IP) intake window of SPEC §2 (`ip_tokens_per_10min`).
pub fn hit_ten_minutes(
    client: &mut SpiClient<'_>,
    key: &str,
    max_hits: i64,
    now: TimestampWithTimeZone,
) -> QResult<bool> {
    lock_key(client, key)?;
    let hits: i64 = db::value(
        client,
        "SELECT count(*) FROM qlink.rate_limit_hits WHERE key = $1 AND hit_at > $2 - interval '10 minutes'",
        &[key.into(), now.into()],
    )?
    .unwrap_or(0);
    if hits >= max_hits {
        return Ok(false);
    }
    record_hit(client, key, now)?;
    Ok(true)
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
