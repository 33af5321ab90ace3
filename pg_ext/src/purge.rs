//! Data retention: patients' personal data is kept only as long as the clinic needs it.

use crate::db;
use crate::error::{invalid_argument, run};
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// Erases name, phone and comment of tokens created more than `older_than` ago (at least
/// a day, so today's queue is never touched), and the phone and payload of their
/// messages. Counts and timings stay for statistics. Returns the number of tokens purged.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn purge_tokens(older_than: default!(Option<Interval>, "'90 days'")) -> Result<i64, ErrorReport> {
    run(|| {
        let older_than = older_than.ok_or_else(|| invalid_argument("older_than is required."))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let long_enough: bool =
                db::value(client, "SELECT $1 >= interval '1 day'", &[older_than.into()])?.unwrap_or(false);
            if !long_enough {
                return Err(invalid_argument("older_than must be at least 1 day."));
            }
            let n: Option<i64> = db::value(
                client,
                "WITH purged AS ( \
                     UPDATE qlink.tokens SET patient_name = NULL, patient_phone = NULL, feedback = NULL, \
                         purged_at = $1, updated_at = $1 \
                     WHERE purged_at IS NULL AND created_at < $1 - $2 RETURNING id), \
                 scrubbed AS ( \
                     UPDATE qlink.message_logs m SET to_phone = NULL, payload = '{}'::jsonb, updated_at = $1 \
                     FROM purged WHERE m.token_id = purged.id RETURNING 1) \
                 SELECT count(*) FROM purged",
                &[now.into(), older_than.into()],
            )?;
            // What patients wrote goes with their tokens; their conversations and the
            // cap's windows are only needed for a day.
            db::exec(
                client,
                "UPDATE qlink.inbound_messages SET from_phone = NULL, body = NULL, button_payload = NULL \
                 WHERE received_at < $1 - $2 AND (from_phone IS NOT NULL OR body IS NOT NULL OR button_payload IS NOT NULL)",
                &[now.into(), older_than.into()],
            )?;
            db::exec(
                client,
                "DELETE FROM qlink.conversations WHERE last_inbound_at < $1 - interval '2 days'",
                &[now.into()],
            )?;
            db::exec(
                client,
                "DELETE FROM qlink.recipient_windows WHERE opened_at < $1 - interval '2 days'",
                &[now.into()],
            )?;
            Ok(n.unwrap_or(0))
        })
    })
}
