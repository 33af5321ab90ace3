//! What the operator (super admin) does to clinics: create with validated settings,
//! change status and settings, delete, and today's metrics across all clinics.

use crate::accounts::write_admin_audit;
use crate::db::{self, col};
use crate::error::{refuse, refused, run, QResult, Reason};
use crate::model::Business;
use crate::validate::Settings;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{Inet, JsonB, Uuid};

const STATUSES: [&str; 4] = ["ACTIVE", "SUSPENDED", "DISABLED", "TRIAL"];

fn valid_slug(slug: &str) -> bool {
    let b = slug.as_bytes();
    (2..=63).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn clinic_name(raw: Option<&str>) -> QResult<String> {
    let name = raw.unwrap_or("").trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(refuse(Reason::InvalidClinicName, "The clinic name must be 1–120 characters."));
    }
    Ok(name.to_string())
}

fn status(raw: &str) -> QResult<String> {
    let s = raw.trim().to_ascii_uppercase();
    if STATUSES.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(refuse(
            Reason::InvalidClinicStatus,
            format!("Unknown clinic status \"{raw}\" (use ACTIVE, TRIAL, SUSPENDED or DISABLED)."),
        ))
    }
}

fn timezone(client: &mut SpiClient<'_>, raw: &str) -> QResult<String> {
    let tz = raw.trim();
    let known: bool =
        db::value(client, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names WHERE name = $1)", &[tz.into()])?
            .unwrap_or(false);
    if !known {
        return Err(refuse(
            Reason::InvalidTimezone,
            format!("Unknown time zone \"{raw}\" (for example Asia/Kolkata)."),
        ));
    }
    Ok(tz.to_string())
}

fn optional_text(raw: Option<&str>, what: &str, max: usize) -> QResult<Option<String>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if s.chars().count() <= max && !s.chars().any(char::is_control) => Ok(Some(s.to_string())),
        Some(_) => Err(refuse(Reason::InvalidAddress, format!("The {what} must be at most {max} characters."))),
    }
}

// The SQL signature is the contract (sql/API.md): one argument per column, the actor last.
#[allow(clippy::too_many_arguments)]
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn create_business(
    slug: Option<&str>,
    name: Option<&str>,
    timezone: default!(Option<&str>, "'Asia/Kolkata'"),
    status: default!(Option<&str>, "'ACTIVE'"),
    settings: default!(Option<JsonB>, "'{}'"),
    address: default!(Option<&str>, "NULL"),
    contact_phone: default!(Option<&str>, "NULL"),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<Uuid, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let slug = slug.unwrap_or("").trim().to_string();
        if !valid_slug(&slug) {
            return Err(refuse(
                Reason::InvalidSlug,
                "The clinic's short name must be 2–63 characters: lowercase letters, digits and dashes, starting with a letter or digit.",
            ));
        }
        let name = clinic_name(name)?;
        let status = self::status(status.unwrap_or("ACTIVE"))?;
        let settings = Settings::default().patched(&settings.map(|s| s.0).unwrap_or(serde_json::json!({})))?;
        let address = optional_text(address, "address", 300)?;
        let contact_phone = match contact_phone.map(str::trim).filter(|s| !s.is_empty()) {
            Some(p) => Some(crate::validate::phone(p)?),
            None => None,
        };
        Spi::connect_mut(|client| {
            let tz = self::timezone(client, timezone.unwrap_or("Asia/Kolkata"))?;
            let now = crate::clock::now(client)?;
            let id: Option<Uuid> = db::value(
                client,
                "INSERT INTO qlink.businesses (slug, name, timezone, status, settings, address, contact_phone, \
                     created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (slug) DO NOTHING RETURNING id",
                &[
                    slug.as_str().into(),
                    name.as_str().into(),
                    tz.as_str().into(),
                    status.as_str().into(),
                    JsonB(settings.to_json()).into(),
                    address.as_deref().into(),
                    contact_phone.as_deref().into(),
                    now.into(),
                ],
            )?;
            let id =
                id.ok_or_else(|| refuse(Reason::SlugTaken, format!("The short name \"{slug}\" is already taken.")))?;
            // Every clinic starts with one line and one room: a single-doctor clinic needs no more.
            db::exec(
                client,
                "WITH q AS (INSERT INTO qlink.queues (business_id, name, created_at, updated_at) \
                            VALUES ($1, 'General', $2, $2) RETURNING id), \
                      r AS (INSERT INTO qlink.rooms (business_id, name, created_at, updated_at) \
                            VALUES ($1, 'Room 1', $2, $2) RETURNING id) \
                 INSERT INTO qlink.room_queues (business_id, room_id, queue_id) SELECT $1, r.id, q.id FROM q, r",
                &[id.into(), now.into()],
            )?;
            let details = serde_json::json!({"slug": slug, "name": name});
            write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "CREATE_CLINIC",
                Some(id.to_string()),
                details,
                now,
            )?;
            Ok(id)
        })
    })
}

/// Changes a clinic. Only the arguments given change; `settings` is a patch merged into
/// the current settings and validated as a whole. Returns the clinic's settings after.
// The SQL signature is the contract (sql/API.md): one argument per column, the actor last.
#[allow(clippy::too_many_arguments)]
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn update_business(
    business_id: Option<Uuid>,
    status: default!(Option<&str>, "NULL"),
    settings: default!(Option<JsonB>, "NULL"),
    name: default!(Option<&str>, "NULL"),
    timezone: default!(Option<&str>, "NULL"),
    address: default!(Option<&str>, "NULL"),
    contact_phone: default!(Option<&str>, "NULL"),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<JsonB, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let status = status.map(self::status).transpose()?;
            let settings_patch = settings.as_ref().map(|p| p.0.clone());
            let settings = match settings {
                Some(patch) => business.settings.patched(&patch.0)?,
                None => business.settings.clone(),
            };
            let name = name.map(|n| clinic_name(Some(n))).transpose()?;
            let tz = match timezone {
                Some(tz) => Some(self::timezone(client, tz)?),
                None => None,
            };
            let address = optional_text(address, "address", 300)?;
            let contact_phone = match contact_phone.map(str::trim).filter(|s| !s.is_empty()) {
                Some(p) => Some(crate::validate::phone(p)?),
                None => None,
            };
            let json = settings.to_json();
            db::exec(
                client,
                "UPDATE qlink.businesses SET status = coalesce($2, status), settings = $3, \
                     name = coalesce($4, name), timezone = coalesce($5, timezone), \
                     address = coalesce($6, address), contact_phone = coalesce($7, contact_phone), \
                     updated_at = $8 \
                 WHERE id = $1",
                &[
                    business.id.into(),
                    status.as_deref().into(),
                    JsonB(json.clone()).into(),
                    name.as_deref().into(),
                    tz.as_deref().into(),
                    address.as_deref().into(),
                    contact_phone.as_deref().into(),
                    now.into(),
                ],
            )?;
            let action = match status.as_deref() {
                Some("SUSPENDED") => "SUSPEND_CLINIC",
                Some("DISABLED") => "DISABLE_CLINIC",
                Some(_) => "ACTIVATE_CLINIC",
                None => "UPDATE_CLINIC",
            };
            // What was asked for, as given (the settings as the patch, not the result).
            let mut details = serde_json::Map::new();
            let mut put = |key: &str, value: Option<serde_json::Value>| {
                if let Some(v) = value {
                    details.insert(key.to_string(), v);
                }
            };
            put("status", status.clone().map(Into::into));
            put("settings", settings_patch);
            put("name", name.clone().map(Into::into));
            put("timezone", tz.clone().map(Into::into));
            put("address", address.clone().map(Into::into));
            put("contact_phone", contact_phone.clone().map(Into::into));
            let target = Some(business.id.to_string());
            write_admin_audit(client, actor_email, actor_ip.as_ref(), action, target, details.into(), now)?;
            Ok(JsonB(json))
        })
    })
}

/// The clinic owner's change of the settings they may make (`validate::OWNER_KEYS`): a
/// patch like `update_business`'s, refused whole (42501) if it names any other setting.
/// Returns the clinic's settings after.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn update_clinic_settings(
    business_id: Option<Uuid>,
    settings: Option<JsonB>,
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<JsonB, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Owner)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let patch = settings.map(|s| s.0).unwrap_or_else(|| serde_json::json!({}));
        if let serde_json::Value::Object(map) = &patch {
            if let Some(key) = map.keys().find(|k| !crate::validate::OWNER_KEYS.contains(&k.as_str())) {
                return Err(refuse(
                    Reason::OwnerSettingForbidden,
                    format!("The setting \"{key}\" is set by QLink's operator, not by the clinic."),
                ));
            }
        }
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let json = business.settings.patched(&patch)?.to_json();
            db::exec(
                client,
                "UPDATE qlink.businesses SET settings = $2, updated_at = $3 WHERE id = $1",
                &[business.id.into(), JsonB(json.clone()).into(), now.into()],
            )?;
            let details = serde_json::json!({"settings": patch});
            write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "UPDATE_CLINIC_SETTINGS",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(JsonB(json))
        })
    })
}

/// Deletes a clinic and everything of it. Refused while today's queue is live (anyone
/// WAITING or SERVING): suspend it first, or finish the day.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn delete_business(
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
            // Lock the clinic row so no token can sneak in between the check and the delete.
            let business_slug: Option<String> =
                db::value(client, "SELECT slug FROM qlink.businesses WHERE id = $1 FOR UPDATE", &[business.id.into()])?;
            let live: bool = db::value(
                client,
                "SELECT EXISTS (SELECT 1 FROM qlink.tokens t JOIN qlink.sessions s ON s.id = t.session_id \
                 WHERE t.business_id = $1 AND t.status IN ('WAITING', 'SERVING') \
                   AND s.date >= ($3 AT TIME ZONE $2)::date - 1)",
                &[business.id.into(), business.timezone.as_str().into(), now.into()],
            )?
            .unwrap_or(false);
            if live {
                return Err(refused(Reason::DeleteLiveQueue));
            }
            db::exec(client, "DELETE FROM qlink.businesses WHERE id = $1", &[business.id.into()])?;
            let details = serde_json::json!({"slug": business_slug, "name": business.name});
            let target = Some(business.id.to_string());
            write_admin_audit(client, actor_email, actor_ip.as_ref(), "DELETE_CLINIC", target, details, now)?;
            Ok(true)
        })
    })
}

/// Every clinic setting with its type, range and default, from the table validation uses
/// (validate::KEYS): forms render from it, so they accept exactly what `update_business`
/// accepts. `kind` is `boolean`, `integer` (`min_value`–`max_value`) or `language` (one of
/// `choices`). Besides the ranges, `eta_min_minutes` may not exceed `eta_max_minutes`.
/// `owner_editable`: the clinic's owner may change it (`update_clinic_settings`).
#[pg_extern(immutable, parallel_safe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn settings_schema() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(kind, String),
        name!(min_value, Option<i64>),
        name!(max_value, Option<i64>),
        name!(default_value, JsonB),
        name!(choices, Option<Vec<String>>),
        name!(owner_editable, bool),
    ),
> {
    use crate::validate::{Kind, KEYS, LANGUAGES};
    let defaults = Settings::default().to_json();
    TableIterator::new(KEYS.iter().map(move |(key, kind)| {
        let (kind, min, max, choices) = match kind {
            Kind::Bool => ("boolean", None, None, None),
            Kind::Int(lo, hi) => ("integer", Some(*lo), Some(*hi), None),
            Kind::Lang => ("language", None, None, Some(LANGUAGES.iter().map(|l| l.to_string()).collect())),
            Kind::Langs => ("languages", None, None, Some(LANGUAGES.iter().map(|l| l.to_string()).collect())),
        };
        let owner = crate::validate::OWNER_KEYS.contains(key);
        (key.to_string(), kind.to_string(), min, max, JsonB(defaults[*key].clone()), choices, owner)
    }))
}

/// A clinic's slug (public: its QR code carries it), for the links a desk shows (the
/// kiosk's address). Unknown: P0002 `clinic_not_found`.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn clinic_slug(business_id: Option<Uuid>) -> Result<String, ErrorReport> {
    run(|| {
        let id = business_id.ok_or_else(|| refused(Reason::ClinicNotFound))?;
        Spi::connect(|client| {
            db::read_value(client, "SELECT slug FROM qlink.businesses WHERE id = $1", &[id.into()])?
                .ok_or_else(|| refused(Reason::ClinicNotFound))
        })
    })
}

/// The public face of a clinic, by its slug: what the intake page needs. Over all its
/// lines: `queue_count` > 1 means the patient picks one (`list_queues`).
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn clinic_by_slug(
    slug: Option<&str>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(business_id, Uuid),
            name!(slug, String),
            name!(name, String),
            name!(status, String),
            name!(timezone, String),
            name!(settings, JsonB),
            name!(session_status, String),
            name!(now_serving_number, Option<i32>),
            name!(waiting_count, i32),
            name!(accepting_tokens, bool),
            name!(refusal_reason, Option<String>),
            name!(queue_count, i32),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let missing = || refused(Reason::ClinicNotFound);
        let slug = slug.ok_or_else(missing)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let row = db::read_first(
                client,
                "SELECT b.id, b.slug, b.name, b.status, b.timezone, b.settings, b.whatsapp_phone_number_id \
                 FROM qlink.businesses b WHERE b.slug = $1",
                &[slug.into()],
            )?
            .ok_or_else(missing)?;
            let settings: JsonB = col(&row, 6)?;
            let business = Business {
                id: col(&row, 1)?,
                name: col(&row, 3)?,
                timezone: col(&row, 5)?,
                status: col(&row, 4)?,
                settings: Settings::from_stored(&settings.0),
                sender: crate::db::nullable(&row, 7)?,
            };
            let lines = crate::views::Line::today(client, &business, now)?;
            let refusal = crate::views::clinic_refusal(&business, &lines);
            let active: Vec<&crate::views::Line> = lines.iter().filter(|l| l.queue.is_active).collect();
            // The day is closed when every line taking patients is.
            let session_status =
                if !active.is_empty() && active.iter().all(|l| l.status == "CLOSED") { "CLOSED" } else { "OPEN" };
            let now_serving = match active.as_slice() {
                [one] => one.now_serving_number,
                _ => None,
            };
            Ok(TableIterator::once((
                business.id,
                col(&row, 2)?,
                business.name.clone(),
                business.status.clone(),
                business.timezone.clone(),
                JsonB(business.settings.to_json()),
                session_status.to_string(),
                now_serving,
                lines.iter().map(|l| l.waiting).sum(),
                refusal.is_none(),
                refusal.map(|r| r.name().to_string()),
                active.len() as i32,
            )))
        })
    })
}

/// Today across all clinics (each clinic's own local date): tokens taken, sessions
/// open, queues with someone waiting or being served, messages that failed for good.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn admin_metrics(
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(tokens_today, i64),
            name!(active_sessions, i64),
            name!(active_queues, i64),
            name!(failed_messages_today, i64),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        crate::login::caller(login, crate::login::May::Operator)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let row = db::read_first(
                client,
                "WITH today AS ( \
                     SELECT s.* FROM qlink.sessions s JOIN qlink.businesses b ON b.id = s.business_id \
                     WHERE s.date = ($1 AT TIME ZONE b.timezone)::date) \
                 SELECT (SELECT coalesce(sum(last_token_number), 0)::bigint FROM today), \
                        (SELECT count(*) FROM today WHERE status = 'OPEN'), \
                        (SELECT count(*) FROM today WHERE EXISTS (SELECT 1 FROM qlink.tokens t \
                             WHERE t.session_id = today.id AND t.status IN ('WAITING', 'SERVING'))), \
                        (SELECT count(*) FROM qlink.message_logs m JOIN qlink.businesses b ON b.id = m.business_id \
                         WHERE m.status = 'PERMANENTLY_FAILED' AND m.created_at >= $1 - interval '36 hours' \
                           AND (m.created_at AT TIME ZONE b.timezone)::date = ($1 AT TIME ZONE b.timezone)::date)",
                &[now.into()],
            )?
            .expect("one row");
            Ok(TableIterator::once((col(&row, 1)?, col(&row, 2)?, col(&row, 3)?, col(&row, 4)?)))
        })
    })
}
