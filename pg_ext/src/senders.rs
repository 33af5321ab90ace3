//! Per-clinic WhatsApp senders and the accounts whose daily recipient cap they share
//! (SPEC §11). The operator sets them; owners read them; the worker reads them through
//! `claim_messages`. Access tokens arrive sealed by the server and are never returned.

use crate::accounts::write_admin_audit_of;
use crate::db::{self, nullable};
use crate::error::{refused, run, QResult, Reason};
use crate::model::Business;
use crate::validate;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{Inet, Uuid};

/// The account of the installation's own number (the server's WHATSAPP_PHONE_NUMBER_ID).
pub const INSTALLATION_ACCOUNT: &str = "installation";

fn meta_id(raw: Option<&str>, reason: Reason) -> QResult<String> {
    let id = raw.unwrap_or("").trim();
    if (5..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_string())
    } else {
        Err(refused(reason))
    }
}

#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::too_many_arguments)]
pub fn set_clinic_sender(
    business_id: Option<Uuid>,
    phone_number_id: Option<&str>,
    display_number: Option<&str>,
    waba_id: Option<&str>,
    access_token_enc: default!(Option<Vec<u8>>, "NULL"),
    clear_access_token: default!(Option<bool>, false),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<String, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let phone_number_id = meta_id(phone_number_id, Reason::InvalidPhoneNumberId)?;
        let display = validate::phone(display_number.unwrap_or(""))?;
        let waba = meta_id(waba_id, Reason::InvalidWabaId)?;
        let sealed = access_token_enc.filter(|t| !t.is_empty());
        if sealed.as_ref().is_some_and(|t| t.len() > 8192) {
            return Err(crate::error::invalid_argument("access_token_enc is too long."));
        }
        let clear = clear_access_token.unwrap_or(false);
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            db::exec(
                client,
                "INSERT INTO qlink.whatsapp_accounts (waba_id, updated_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[waba.as_str().into(), now.into()],
            )?;
            db::exec(
                client,
                "INSERT INTO qlink.whatsapp_senders AS s (phone_number_id, display_number, waba_id, access_token_enc, \
                     created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $6, $6) \
                 ON CONFLICT (phone_number_id) DO UPDATE SET display_number = EXCLUDED.display_number, \
                     waba_id = EXCLUDED.waba_id, \
                     access_token_enc = CASE WHEN $5 THEN NULL ELSE coalesce(EXCLUDED.access_token_enc, s.access_token_enc) END, \
                     updated_at = $6",
                &[
                    phone_number_id.as_str().into(),
                    display.as_str().into(),
                    waba.as_str().into(),
                    sealed.clone().into(),
                    clear.into(),
                    now.into(),
                ],
            )?;
            let old: Option<String> = db::value(
                client,
                "WITH old AS (SELECT whatsapp_phone_number_id FROM qlink.businesses WHERE id = $1 FOR UPDATE) \
                 UPDATE qlink.businesses b SET whatsapp_phone_number_id = $2, updated_at = $3 FROM old \
                 WHERE b.id = $1 RETURNING old.whatsapp_phone_number_id",
                &[business.id.into(), phone_number_id.as_str().into(), now.into()],
            )?;
            // The token is never written to the audit trail, only whether it changed.
            let token_change = if clear {
                "cleared"
            } else if sealed.is_some() {
                "replaced"
            } else {
                "kept"
            };
            let details = serde_json::json!({
                "from": old,
                "phone_number_id": phone_number_id,
                "display_number": display,
                "waba_id": waba,
                "access_token": token_change,
            });
            write_admin_audit_of(
                client,
                actor_email,
                actor_ip.as_ref(),
                "CLINIC_SENDER_SET",
                "clinic",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(phone_number_id)
        })
    })
}

#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn clear_clinic_sender(
    business_id: Option<Uuid>,
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<bool, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let Some(old) = business.sender.clone() else {
                return Ok(false);
            };
            db::exec(
                client,
                "UPDATE qlink.businesses SET whatsapp_phone_number_id = NULL, updated_at = $2 WHERE id = $1",
                &[business.id.into(), now.into()],
            )?;
            write_admin_audit_of(
                client,
                actor_email,
                actor_ip.as_ref(),
                "CLINIC_SENDER_CLEARED",
                "clinic",
                Some(business.id.to_string()),
                serde_json::json!({"from": old}),
                now,
            )?;
            Ok(true)
        })
    })
}

#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn clinic_sender(
    business_id: Option<Uuid>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(own_sender, bool),
            name!(phone_number_id, Option<String>),
            name!(display_number, Option<String>),
            name!(waba_id, Option<String>),
            name!(has_access_token, Option<bool>),
            name!(daily_recipient_limit, Option<i32>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        Spi::connect(|client| {
            let missing = || refused(Reason::ClinicNotFound);
            let row = db::read_first(
                client,
                "SELECT s.phone_number_id, s.display_number, s.waba_id, s.access_token_enc IS NOT NULL, \
                        a.daily_recipient_limit \
                 FROM qlink.businesses b \
                 LEFT JOIN qlink.whatsapp_senders s ON s.phone_number_id = b.whatsapp_phone_number_id \
                 LEFT JOIN qlink.whatsapp_accounts a ON a.waba_id = s.waba_id \
                 WHERE b.id = $1",
                &[business_id.ok_or_else(missing)?.into()],
            )?
            .ok_or_else(missing)?;
            let id: Option<String> = nullable(&row, 1)?;
            Ok(TableIterator::once((
                id.is_some(),
                id,
                nullable(&row, 2)?,
                nullable(&row, 3)?,
                nullable(&row, 4)?,
                nullable(&row, 5)?,
            )))
        })
    })
}

#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn set_recipient_limit(
    waba_id: Option<&str>,
    daily_recipient_limit: Option<i32>,
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<i32, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let waba = match waba_id.map(str::trim) {
            Some(INSTALLATION_ACCOUNT) => INSTALLATION_ACCOUNT.to_string(),
            other => meta_id(other, Reason::InvalidWabaId)?,
        };
        let limit = daily_recipient_limit
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| refused(Reason::InvalidRecipientLimit))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let old: Option<i32> = db::value(
                client,
                "WITH old AS (SELECT daily_recipient_limit FROM qlink.whatsapp_accounts WHERE waba_id = $1 FOR UPDATE) \
                 UPDATE qlink.whatsapp_accounts a SET daily_recipient_limit = $2, updated_at = $3 FROM old \
                 WHERE a.waba_id = $1 RETURNING old.daily_recipient_limit",
                &[waba.as_str().into(), limit.into(), now.into()],
            )?;
            let old = old.ok_or_else(|| refused(Reason::AccountNotFound))?;
            write_admin_audit_of(
                client,
                actor_email,
                actor_ip.as_ref(),
                "RECIPIENT_LIMIT_SET",
                "whatsapp_account",
                Some(waba.clone()),
                serde_json::json!({"from": old, "to": limit}),
                now,
            )?;
            Ok(limit)
        })
    })
}

#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn sender_backlog() -> Result<
    TableIterator<
        'static,
        (
            name!(phone_number_id, Option<String>),
            name!(display_number, Option<String>),
            name!(waba_id, String),
            name!(clinics, i32),
            name!(pending, i64),
            name!(deferred, i64),
            name!(failed, i64),
            name!(oldest_due_at, Option<TimestampWithTimeZone>),
            name!(recipients_24h, i32),
            name!(daily_recipient_limit, i32),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        Spi::connect(|client| {
            let now = crate::clock::now(client)?;
            let table = db::read(
                client,
                "WITH s AS ( \
                     SELECT NULL::text AS phone_number_id, NULL::text AS display_number, 'installation'::text AS waba_id \
                     UNION ALL SELECT phone_number_id, display_number, waba_id FROM qlink.whatsapp_senders), \
                 m AS ( \
                     SELECT sender_phone_number_id AS pid, \
                            count(*) FILTER (WHERE status = 'PENDING') AS pending, \
                            count(*) FILTER (WHERE status = 'PENDING' AND reason = 'daily_recipient_limit') AS deferred, \
                            count(*) FILTER (WHERE status = 'FAILED') AS failed, \
                            min(next_attempt_at) AS oldest \
                     FROM qlink.message_logs WHERE status IN ('PENDING', 'FAILED') GROUP BY 1), \
                 c AS (SELECT whatsapp_phone_number_id AS pid, count(*)::int AS n FROM qlink.businesses GROUP BY 1), \
                 w AS (SELECT waba_id, count(*)::int AS n FROM qlink.recipient_windows \
                       WHERE opened_at > $1 - interval '24 hours' GROUP BY 1) \
                 SELECT s.phone_number_id, s.display_number, s.waba_id, coalesce(c.n, 0), coalesce(m.pending, 0), \
                        coalesce(m.deferred, 0), coalesce(m.failed, 0), m.oldest, coalesce(w.n, 0), \
                        a.daily_recipient_limit \
                 FROM s JOIN qlink.whatsapp_accounts a ON a.waba_id = s.waba_id \
                 LEFT JOIN m ON m.pid IS NOT DISTINCT FROM s.phone_number_id \
                 LEFT JOIN c ON c.pid IS NOT DISTINCT FROM s.phone_number_id \
                 LEFT JOIN w ON w.waba_id = s.waba_id \
                 ORDER BY s.phone_number_id NULLS FIRST",
                &[now.into()],
            )?;
            let mut rows = Vec::new();
            for row in table {
                rows.push((
                    row.get(1)?,
                    row.get(2)?,
                    db::field(&row, 3)?,
                    db::field(&row, 4)?,
                    db::field(&row, 5)?,
                    db::field(&row, 6)?,
                    db::field(&row, 7)?,
                    row.get(8)?,
                    db::field(&row, 9)?,
                    db::field(&row, 10)?,
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}
