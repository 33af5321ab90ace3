//! Kiosks at the clinic's door (issue 17): a tablet on which a staff member signed in to
//! open the clinic's intake page for patients without a phone of their own. The sign-in
//! makes no login session: the tablet gets a kiosk secret (the server keeps it in an
//! HttpOnly cookie; here only its SHA-256), which can do one thing, take tokens for its own
//! clinic, so a patient at the kiosk can never reach a staff page or function.
//!
//! A kiosk token follows the QR rules (clinic open, today's queue open, QR intake on, the
//! daily and per-phone limits) with the mobile number optional and the kiosk's own
//! 10-minute window (`kiosk_tokens_per_10min`) in place of the address's: the whole waiting
//! room shares the kiosk's address. A kiosk is open until its time is up, a staff member
//! closes it, or the user who opened it is deactivated.

use crate::db::{self, col};
use crate::error::{refuse, refused, run, QResult, Reason};
use crate::login::{authenticate, credentials, Attempt};
use crate::model::Business;
use crate::queue::{create_in, Intake};
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{Inet, Uuid};

/// An open kiosk.
pub struct Kiosk {
    pub id: Uuid,
    pub business_id: Uuid,
    pub slug: String,
    pub clinic_name: String,
    pub paper: String,
    pub expires_at: TimestampWithTimeZone,
}

/// The open kiosk of a secret's digest: not expired, of a clinic that is not DISABLED,
/// opened by a user who is still active in that clinic.
fn open_kiosk_of(client: &SpiClient<'_>, secret_hash: &[u8], now: TimestampWithTimeZone) -> QResult<Option<Kiosk>> {
    if secret_hash.len() != 32 {
        return Ok(None);
    }
    let row = db::read_first(
        client,
        "SELECT k.id, k.business_id, b.slug, b.name, k.paper, k.expires_at \
         FROM qlink.kiosks k JOIN qlink.businesses b ON b.id = k.business_id \
              JOIN qlink.staff_users u ON u.id = k.opened_by \
         WHERE k.secret_hash = $1 AND k.expires_at > $2 AND b.status <> 'DISABLED' \
           AND u.is_active AND u.business_id = k.business_id",
        &[secret_hash.to_vec().into(), now.into()],
    )?;
    row.map(|r| {
        Ok(Kiosk {
            id: col(&r, 1)?,
            business_id: col(&r, 2)?,
            slug: col(&r, 3)?,
            clinic_name: col(&r, 4)?,
            paper: col(&r, 5)?,
            expires_at: col(&r, 6)?,
        })
    })
    .transpose()
}

fn paper_of(raw: Option<&str>) -> QResult<&'static str> {
    match raw.map(str::trim).unwrap_or("80") {
        "58" => Ok("58"),
        "80" | "" => Ok("80"),
        "a6" | "A6" => Ok("a6"),
        _ => Err(refuse(Reason::InvalidArgument, "paper is 58, 80 or a6.")),
    }
}

/// Opens a kiosk of the clinic `business_id` on the device that will hold the secret whose
/// SHA-256 is `secret_hash`, for `ttl` (1 minute to 7 days), if `email` and `password` are
/// those of that clinic's STAFF or OWNER. The password is checked as `qlink.login` checks it
/// (argon2id, the same throttle), and like it the outcome is a row: `ok`, `wrong`,
/// `address_limited`, `paced` (with `retry_after_seconds`), or `not_this_clinic` (the
/// password is right but the user works at no desk of this clinic).
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::too_many_arguments)]
pub fn open_kiosk(
    email: Option<&str>,
    password: Option<&str>,
    secret_hash: Option<Vec<u8>>,
    business_id: Option<Uuid>,
    ttl: Option<Interval>,
    paper: default!(Option<&str>, "'80'"),
    ip: default!(Option<Inet>, "NULL"),
    user_agent: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(outcome, String),
            name!(retry_after_seconds, Option<i32>),
            name!(kiosk_id, Option<Uuid>),
            name!(business_id, Option<Uuid>),
            name!(slug, Option<String>),
            name!(paper, Option<String>),
            name!(expires_at, Option<TimestampWithTimeZone>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let (email, password) = credentials(email, password)?;
        let secret_hash = secret_hash
            .filter(|h| h.len() == 32)
            .ok_or_else(|| refuse(Reason::InvalidArgument, "secret_hash must be 32 bytes (SHA-256)."))?;
        let ttl = ttl.ok_or_else(|| refuse(Reason::InvalidArgument, "ttl is required."))?;
        let paper = paper_of(paper)?;
        let user_agent: Option<String> = user_agent.map(|u| u.chars().take(300).collect());
        Spi::connect_mut(|client| {
            let in_range: bool = db::value(
                client,
                "SELECT $1::interval BETWEEN interval '1 minute' AND interval '7 days'",
                &[ttl.into()],
            )?
            .unwrap_or(false);
            if !in_range {
                return Err(refuse(Reason::InvalidArgument, "ttl must be from 1 minute to 7 days."));
            }
            let business = Business::load(client, business_id)?;
            let now = crate::clock::now(client)?;
            let none = |outcome: String, seconds| (outcome, seconds, None, None, None, None, None);
            let user = match authenticate(client, &email, password, ip.as_ref(), now)? {
                Attempt::Right(user) => user,
                other => {
                    let (outcome, seconds) = other.outcome();
                    return Ok(TableIterator::once(none(outcome, seconds)));
                }
            };
            let desk = matches!(user.role.as_str(), "STAFF" | "OWNER") && user.business_id == Some(business.id);
            if !desk {
                return Ok(TableIterator::once(none("not_this_clinic".into(), None)));
            }
            let row = db::first(
                client,
                "INSERT INTO qlink.kiosks (secret_hash, business_id, opened_by, paper, created_at, expires_at, user_agent) \
                 VALUES ($1, $2, $3, $4, $5, $5 + $6, $7) \
                 RETURNING id, expires_at, (SELECT slug FROM qlink.businesses WHERE id = $2)",
                &[
                    secret_hash.into(),
                    business.id.into(),
                    user.staff_id.into(),
                    paper.into(),
                    now.into(),
                    ttl.into(),
                    user_agent.into(),
                ],
            )?
            .expect("INSERT RETURNING");
            Ok(TableIterator::once((
                "ok".to_string(),
                None,
                Some(col::<Uuid>(&row, 1)?),
                Some(business.id),
                Some(col::<String>(&row, 3)?),
                Some(paper.to_string()),
                Some(col::<TimestampWithTimeZone>(&row, 2)?),
            )))
        })
    })
}

/// The open kiosk of a secret's SHA-256: its clinic and paper, and until when it is open.
/// No row when it is signed out (expired, closed, its opener deactivated, its clinic
/// disabled) or unknown.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn kiosk_session(
    secret_hash: Option<Vec<u8>>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(kiosk_id, Uuid),
            name!(business_id, Uuid),
            name!(slug, String),
            name!(clinic_name, String),
            name!(paper, String),
            name!(expires_at, TimestampWithTimeZone),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let Some(hash) = secret_hash else { return Ok(TableIterator::new(Vec::new())) };
        Spi::connect(|client| {
            let now = crate::clock::now(client)?;
            let found = open_kiosk_of(client, &hash, now)?;
            Ok(TableIterator::new(found.map(|k| (k.id, k.business_id, k.slug, k.clinic_name, k.paper, k.expires_at))))
        })
    })
}

/// A token taken at an open kiosk, with create_token's answer and the paper its slip is
/// printed on: the kiosk's clinic, the QR rules with the kiosk's own window, the mobile
/// number optional. A signed-out kiosk is 42501 `kiosk_signed_out`.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn kiosk_create_token(
    secret_hash: Option<Vec<u8>>,
    patient_name: Option<&str>,
    patient_phone: default!(Option<&str>, "NULL"),
    language: default!(Option<&str>, "NULL"),
    queue_id: default!(Option<Uuid>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(token_id, Uuid),
            name!(token_number, i32),
            name!(status, String),
            name!(queue_position, Option<i32>),
            name!(eta_min_minutes, Option<i32>),
            name!(eta_max_minutes, Option<i32>),
            name!(token_label, String),
            name!(queue_id, Uuid),
            name!(queue_name, String),
            name!(paper, String),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let kiosk = open_kiosk_of(client, secret_hash.as_deref().unwrap_or_default(), now)?
                .ok_or_else(|| refused(Reason::KioskSignedOut))?;
            let intake = Intake {
                business_id: Some(kiosk.business_id),
                patient_name,
                patient_phone,
                source: "KIOSK",
                client_ip: None,
                is_priority: false,
                language,
                staff_id: None,
                queue_id,
                kiosk_id: Some(kiosk.id),
            };
            let created = create_in(client, &intake, now)?;
            db::exec(
                client,
                "UPDATE qlink.kiosks SET last_join_at = $2 WHERE id = $1",
                &[kiosk.id.into(), now.into()],
            )?;
            let (id, number, status, position, lo, hi, label, queue, queue_name) = created.row();
            Ok(TableIterator::once((id, number, status, position, lo, hi, label, queue, queue_name, kiosk.paper)))
        })
    })
}

/// The clinic's open kiosks, newest first, for its desk.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn list_kiosks(
    business_id: Option<Uuid>,
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(kiosk_id, Uuid),
            name!(opened_by_email, String),
            name!(paper, String),
            name!(created_at, TimestampWithTimeZone),
            name!(expires_at, TimestampWithTimeZone),
            name!(last_join_at, Option<TimestampWithTimeZone>),
            name!(user_agent, Option<String>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Desk)?;
        let business_id = caller.clinic(business_id)?;
        Spi::connect_mut(|client| {
            let business = Business::load(client, business_id)?;
            let now = crate::clock::now(client)?;
            let table = db::read(
                client,
                "SELECT k.id, u.email, k.paper, k.created_at, k.expires_at, k.last_join_at, k.user_agent \
                 FROM qlink.kiosks k JOIN qlink.staff_users u ON u.id = k.opened_by \
                 WHERE k.business_id = $1 AND k.expires_at > $2 AND u.is_active \
                 ORDER BY k.created_at DESC, k.id",
                &[business.id.into(), now.into()],
            )?;
            let mut rows = Vec::with_capacity(table.len());
            for r in table {
                rows.push((
                    r.get::<Uuid>(1)?.expect("id"),
                    r.get::<String>(2)?.expect("email"),
                    r.get::<String>(3)?.expect("paper"),
                    r.get::<TimestampWithTimeZone>(4)?.expect("created_at"),
                    r.get::<TimestampWithTimeZone>(5)?.expect("expires_at"),
                    r.get::<TimestampWithTimeZone>(6)?,
                    r.get::<String>(7)?,
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

/// Signs a kiosk of the clinic out (its tablet shows the sign-in again). True if it was open.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn close_kiosk(
    kiosk_id: Option<Uuid>,
    business_id: default!(Option<Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<bool, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Desk)?;
        let business_id = caller.clinic(business_id)?;
        let kiosk_id = kiosk_id.ok_or_else(|| refuse(Reason::InvalidArgument, "kiosk_id is required."))?;
        Spi::connect_mut(|client| {
            let gone: Option<i64> = db::value(
                client,
                "WITH gone AS (DELETE FROM qlink.kiosks WHERE id = $1 AND ($2::uuid IS NULL OR business_id = $2) \
                               RETURNING 1) SELECT count(*) FROM gone",
                &[kiosk_id.into(), business_id.into()],
            )?;
            Ok(gone.unwrap_or(0) > 0)
        })
    })
}
