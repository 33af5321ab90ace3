//! Staff accounts, login sessions and the admin audit trail. The server's runtime role has
//! no table privileges, so even authentication goes through these functions. Passwords are
//! hashed (argon2id) by the server and checked by `qlink.login` (login.rs); only hashes
//! reach the database, and login sessions are stored as SHA-256 digests of the secret the
//! browser holds.

use crate::db::{self, col};
use crate::error::{refuse, refused, run, QResult, Reason};
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{Inet, JsonB, Uuid};

fn email(raw: Option<&str>) -> QResult<String> {
    let e = raw.unwrap_or("").trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.matches('@').count() == 1;
    if valid {
        Ok(e)
    } else {
        Err(refuse(Reason::InvalidEmail, "Please enter a valid email address."))
    }
}

fn password_hash(raw: Option<&str>) -> QResult<&str> {
    raw.filter(|h| h.starts_with("$argon2id$") && h.len() < 512)
        .ok_or_else(|| refuse(Reason::InvalidPasswordHash, "password_hash must be an argon2id PHC string."))
}

/// The room a login is pinned to: one of its clinic's rooms, or P0002.
fn clinic_room(
    client: &mut pgrx::spi::SpiClient<'_>,
    business_id: Uuid,
    room_id: Option<Uuid>,
) -> QResult<Option<Uuid>> {
    let Some(room_id) = room_id else { return Ok(None) };
    db::value::<Uuid>(
        client,
        "SELECT id FROM qlink.rooms WHERE id = $1 AND business_id = $2",
        &[room_id.into(), business_id.into()],
    )?
    .ok_or_else(|| refused(Reason::RoomNotFound))
    .map(Some)
}

/// Creates a login. STAFF (optionally pinned to one room) and OWNER belong to exactly one
/// clinic; a SUPER_ADMIN to none.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn create_staff_user(
    email: Option<&str>,
    password_hash: Option<&str>,
    role: Option<&str>,
    business_id: default!(Option<Uuid>, "NULL"),
    room_id: default!(Option<Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<Uuid, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        let email = self::email(email)?;
        let hash = self::password_hash(password_hash)?;
        let role = role.unwrap_or("").trim().to_ascii_uppercase();
        match (role.as_str(), business_id) {
            ("STAFF" | "OWNER", Some(_)) | ("SUPER_ADMIN", None) => {}
            ("STAFF" | "OWNER", None) => {
                return Err(refuse(Reason::InvalidRole, format!("A {role} user needs a clinic.")))
            }
            ("SUPER_ADMIN", Some(_)) => return Err(refuse(Reason::InvalidRole, "A SUPER_ADMIN belongs to no clinic.")),
            _ => return Err(refuse(Reason::InvalidRole, "role must be STAFF, OWNER or SUPER_ADMIN.")),
        }
        Spi::connect_mut(|client| {
            let room = match business_id {
                Some(b) => {
                    crate::model::Business::load(client, Some(b))?;
                    clinic_room(client, b, room_id)?
                }
                None if room_id.is_some() => {
                    return Err(refuse(Reason::InvalidRole, "Only a clinic's login can be pinned to a room."))
                }
                None => None,
            };
            let id: Option<Uuid> = db::value(
                client,
                "INSERT INTO qlink.staff_users (business_id, email, password_hash, role, room_id) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING RETURNING id",
                &[business_id.into(), email.as_str().into(), hash.into(), role.as_str().into(), room.into()],
            )?;
            id.ok_or_else(|| refuse(Reason::EmailTaken, format!("A user with the email {email} already exists.")))
        })
    })
}

/// A clinic's logins (never the operator's), for its owner: who they are, whether they may
/// log in, the room they are pinned to, and how many login sessions they hold now.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn clinic_staff(
    business_id: Option<Uuid>,
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(staff_id, Uuid),
            name!(email, String),
            name!(role, String),
            name!(is_active, bool),
            name!(room_id, Option<Uuid>),
            name!(room_name, Option<String>),
            name!(created_at, TimestampWithTimeZone),
            name!(last_login_at, Option<TimestampWithTimeZone>),
            name!(login_sessions, i32),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = crate::model::Business::load(client, business_id)?;
            let table = db::read(
                client,
                "SELECT u.id, u.email, u.role, u.is_active, u.room_id, r.name, u.created_at, u.last_login_at, \
                     (SELECT count(*)::int FROM qlink.login_sessions l WHERE l.staff_user_id = u.id AND l.expires_at > $2) \
                 FROM qlink.staff_users u LEFT JOIN qlink.rooms r ON r.id = u.room_id \
                 WHERE u.business_id = $1 ORDER BY u.role DESC, u.email",
                &[business.id.into(), now.into()],
            )?;
            let mut rows = Vec::new();
            for r in table {
                rows.push((
                    r.get(1)?.expect("id"),
                    r.get(2)?.expect("email"),
                    r.get(3)?.expect("role"),
                    r.get(4)?.expect("is_active"),
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?.expect("created_at"),
                    r.get(8)?,
                    r.get(9)?.expect("sessions"),
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

/// One of the clinic's logins, locked; P0002 for anyone else's (or an operator).
fn clinic_login(
    client: &mut pgrx::spi::SpiClient<'_>,
    business_id: Uuid,
    staff_id: Option<Uuid>,
) -> QResult<(Uuid, String)> {
    let staff_id = staff_id.ok_or_else(|| refused(Reason::UserNotFound))?;
    let row = db::first(
        client,
        "SELECT id, email FROM qlink.staff_users WHERE id = $1 AND business_id = $2 FOR UPDATE",
        &[staff_id.into(), business_id.into()],
    )?
    .ok_or_else(|| refused(Reason::UserNotFound))?;
    Ok((col(&row, 1)?, col(&row, 2)?))
}

/// Changes a clinic login: enables or disables it (disabling ends its login sessions), pins
/// it to a room (`room_id`) or unpins it (`unpin`). Returns the login sessions ended.
// The SQL signature is the contract (sql/API.md): one argument per column, the actor last.
#[allow(clippy::too_many_arguments)]
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn update_staff_user(
    business_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    is_active: default!(Option<bool>, "NULL"),
    room_id: default!(Option<Uuid>, "NULL"),
    unpin: default!(Option<bool>, false),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<i64, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let unpin = unpin.unwrap_or(false);
        if unpin && room_id.is_some() {
            return Err(refuse(Reason::InvalidArgument, "Give a room to pin the login to, or unpin it: not both."));
        }
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = crate::model::Business::load(client, business_id)?;
            let (id, email) = clinic_login(client, business.id, staff_id)?;
            let room = clinic_room(client, business.id, room_id)?;
            db::exec(
                client,
                "UPDATE qlink.staff_users SET is_active = coalesce($2, is_active), \
                     room_id = CASE WHEN $4 THEN NULL ELSE coalesce($3, room_id) END \
                 WHERE id = $1",
                &[id.into(), is_active.into(), room.into(), unpin.into()],
            )?;
            let ended = if is_active == Some(false) { end_sessions_of(client, id)? } else { 0 };
            let mut details = serde_json::json!({"staff_id": id.to_string(), "email": email});
            if let Some(a) = is_active {
                details["is_active"] = a.into();
            }
            if let Some(r) = room {
                details["room_id"] = r.to_string().into();
            }
            if unpin {
                details["room_id"] = serde_json::Value::Null;
            }
            write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "UPDATE_STAFF",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(ended)
        })
    })
}

fn end_sessions_of(client: &mut pgrx::spi::SpiClient<'_>, staff_id: Uuid) -> QResult<i64> {
    Ok(db::value(
        client,
        "WITH gone AS (DELETE FROM qlink.login_sessions WHERE staff_user_id = $1 RETURNING 1) SELECT count(*) FROM gone",
        &[staff_id.into()],
    )?
    .unwrap_or(0))
}

/// Logs a clinic login out everywhere. Returns the login sessions ended.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn end_staff_sessions(
    business_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<i64, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = crate::model::Business::load(client, business_id)?;
            let (id, email) = clinic_login(client, business.id, staff_id)?;
            let ended = end_sessions_of(client, id)?;
            let details = serde_json::json!({"staff_id": id.to_string(), "email": email, "ended": ended});
            write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "END_STAFF_SESSIONS",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(ended)
        })
    })
}

/// Sets a new password (argon2id hash) for a clinic login and logs it out everywhere.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn reset_staff_password(
    business_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    password_hash: Option<&str>,
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<i64, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let hash = self::password_hash(password_hash)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = crate::model::Business::load(client, business_id)?;
            let (id, email) = clinic_login(client, business.id, staff_id)?;
            db::exec(
                client,
                "UPDATE qlink.staff_users SET password_hash = $2 WHERE id = $1",
                &[id.into(), hash.into()],
            )?;
            let ended = end_sessions_of(client, id)?;
            let details = serde_json::json!({"staff_id": id.to_string(), "email": email});
            write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "RESET_STAFF_PASSWORD",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(ended)
        })
    })
}

/// Replaces a user's password hash and ends all their login sessions.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn set_staff_password(email: Option<&str>, password_hash: Option<&str>) -> Result<Uuid, ErrorReport> {
    run(|| {
        let email = self::email(email)?;
        let hash = self::password_hash(password_hash)?;
        Spi::connect_mut(|client| {
            let id: Uuid = db::value(
                client,
                "UPDATE qlink.staff_users SET password_hash = $2 WHERE email = $1 RETURNING id",
                &[email.as_str().into(), hash.into()],
            )?
            .ok_or_else(|| refused(Reason::UserNotFound))?;
            db::exec(client, "DELETE FROM qlink.login_sessions WHERE staff_user_id = $1", &[id.into()])?;
            Ok(id)
        })
    })
}

/// What the server needs to check a password: no row for an unknown or inactive email, or
/// for the staff of a DISABLED clinic.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn staff_for_login(
    email: Option<&str>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(staff_id, Uuid),
            name!(password_hash, String),
            name!(role, String),
            name!(business_id, Option<Uuid>),
            name!(room_id, Option<Uuid>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let email = email.unwrap_or("").trim().to_lowercase();
        let found = Spi::connect(|client| crate::login::candidate(client, &email))?;
        Ok(TableIterator::new(found.map(|c| (c.staff_id, c.password_hash, c.role, c.business_id, c.room_id))))
    })
}

fn token_hash(raw: Option<Vec<u8>>) -> QResult<Vec<u8>> {
    raw.filter(|h| h.len() == 32)
        .ok_or_else(|| refuse(Reason::InvalidArgument, "token_hash must be 32 bytes (SHA-256)."))
}

/// Stores a login session after a successful login; returns when it expires. For the
/// owner (psql, `qlink demo`); the web role logs in with `qlink.login`.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn create_login_session(
    token_hash: Option<Vec<u8>>,
    staff_id: Option<Uuid>,
    ttl: Option<Interval>,
    ip: default!(Option<Inet>, "NULL"),
    user_agent: default!(Option<&str>, "NULL"),
) -> Result<TimestampWithTimeZone, ErrorReport> {
    run(|| {
        let hash = self::token_hash(token_hash)?;
        let staff_id = staff_id.ok_or_else(|| refused(Reason::UserNotFound))?;
        let ttl = ttl.ok_or_else(|| refuse(Reason::InvalidArgument, "ttl is required."))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            store_session(client, &hash, staff_id, ttl, ip.as_ref(), user_agent, now)
        })
    })
}

/// A new login session of an active user; when it expires.
pub fn store_session(
    client: &mut pgrx::spi::SpiClient<'_>,
    hash: &[u8],
    staff_id: Uuid,
    ttl: Interval,
    ip: Option<&Inet>,
    user_agent: Option<&str>,
    now: TimestampWithTimeZone,
) -> QResult<TimestampWithTimeZone> {
    let user_agent: Option<String> = user_agent.map(|u| u.chars().take(300).collect());
    db::exec(client, "UPDATE qlink.staff_users SET last_login_at = $2 WHERE id = $1", &[staff_id.into(), now.into()])?;
    db::value(
        client,
        "INSERT INTO qlink.login_sessions (token_hash, staff_user_id, created_at, last_seen_at, expires_at, ip, user_agent) \
         SELECT $1, id, $3, $3, $3 + $4, $5::text::inet, $6 FROM qlink.staff_users WHERE id = $2 AND is_active \
         RETURNING expires_at",
        &[
            hash.to_vec().into(),
            staff_id.into(),
            now.into(),
            ttl.into(),
            ip.map(|i| i.0.clone()).into(),
            user_agent.into(),
        ],
    )?
    .ok_or_else(|| refused(Reason::UserNotFound))
}

/// The user behind a login session, if it exists and has not expired, and the user's clinic
/// is not DISABLED (disabling a clinic shuts its staff out at once; enabling it lets them log
/// in again). Expired sessions are deleted on sight.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn login_session_user(
    token_hash: Option<Vec<u8>>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(staff_id, Uuid),
            name!(email, String),
            name!(role, String),
            name!(business_id, Option<Uuid>),
            name!(expires_at, TimestampWithTimeZone),
            name!(room_id, Option<Uuid>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let Some(hash) = token_hash.filter(|h| h.len() == 32) else {
            return Ok(TableIterator::new(Vec::new()));
        };
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            db::exec(
                client,
                "DELETE FROM qlink.login_sessions WHERE token_hash = $1 AND expires_at <= $2",
                &[hash.clone().into(), now.into()],
            )?;
            let found = crate::login::session_login(client, &hash)?;
            Ok(TableIterator::new(found.map(|l| (l.staff_id, l.email, l.role, l.business_id, l.expires_at, l.room_id))))
        })
    })
}

/// Logout: forgets the session. True if there was one.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn end_login_session(token_hash: Option<Vec<u8>>) -> Result<bool, ErrorReport> {
    run(|| {
        let hash = self::token_hash(token_hash)?;
        Spi::connect_mut(|client| {
            let gone: Option<i64> = db::value(
                client,
                "WITH gone AS (DELETE FROM qlink.login_sessions WHERE token_hash = $1 RETURNING 1) SELECT count(*) FROM gone",
                &[hash.into()],
            )?;
            Ok(gone.unwrap_or(0) > 0)
        })
    })
}

/// Housekeeping: deletes expired login sessions and kiosk sign-ins; how many.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn prune_login_sessions() -> Result<i64, ErrorReport> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            Ok(db::value(
                client,
                "WITH sessions AS (DELETE FROM qlink.login_sessions WHERE expires_at <= $1 RETURNING 1), \
                      kiosks AS (DELETE FROM qlink.kiosks WHERE expires_at <= $1 RETURNING 1) \
                 SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM kiosks)",
                &[now.into()],
            )?
            .unwrap_or(0))
        })
    })
}

/// Writes one line of the operator's audit trail. Without an actor (a DBA in psql) the
/// database login (`session_user`; `current_user` is the extension owner here) and its
/// client address stand in, so a change made outside the server is audited too.
pub fn write_admin_audit(
    client: &mut pgrx::spi::SpiClient<'_>,
    actor_email: Option<&str>,
    actor_ip: Option<&Inet>,
    action: &str,
    target_id: Option<String>,
    details: serde_json::Value,
    now: TimestampWithTimeZone,
) -> QResult<i64> {
    write_admin_audit_of(client, actor_email, actor_ip, action, "clinic", target_id, details, now)
}

/// `write_admin_audit` for an act on something other than a clinic (a plan).
#[allow(clippy::too_many_arguments)]
pub fn write_admin_audit_of(
    client: &mut pgrx::spi::SpiClient<'_>,
    actor_email: Option<&str>,
    actor_ip: Option<&Inet>,
    action: &str,
    target_type: &str,
    target_id: Option<String>,
    details: serde_json::Value,
    now: TimestampWithTimeZone,
) -> QResult<i64> {
    let actor = actor_email.map(str::trim).filter(|a| !a.is_empty());
    let id: Option<i64> = db::value(
        client,
        "INSERT INTO qlink.admin_audit_logs (actor_email, actor_ip, action, target_type, target_id, details, created_at) \
         VALUES (coalesce($1, session_user::text), coalesce($2::text::inet, inet_client_addr()), $3, $7, $4, $5, $6) \
         RETURNING id",
        &[
            actor.into(),
            actor_ip.map(|i| i.0.clone()).into(),
            action.into(),
            target_id.into(),
            JsonB(details).into(),
            now.into(),
            target_type.into(),
        ],
    )?;
    Ok(id.expect("INSERT RETURNING id"))
}

/// One line of the operator's audit trail.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn record_admin_action(
    actor_email: Option<&str>,
    actor_ip: Option<Inet>,
    action: Option<&str>,
    target_type: default!(Option<&str>, "NULL"),
    target_id: default!(Option<&str>, "NULL"),
    details: default!(Option<JsonB>, "'{}'"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<i64, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let actor = actor_email
            .filter(|a| !a.is_empty())
            .ok_or_else(|| refuse(Reason::InvalidArgument, "actor_email is required."))?;
        let action =
            action.filter(|a| !a.is_empty()).ok_or_else(|| refuse(Reason::InvalidArgument, "action is required."))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let id: Option<i64> = db::value(
                client,
                "INSERT INTO qlink.admin_audit_logs (actor_email, actor_ip, action, target_type, target_id, details, created_at) \
                 VALUES ($1, $2::text::inet, $3, $4, $5, coalesce($6, '{}'::jsonb), $7) RETURNING id",
                &[
                    actor.into(),
                    actor_ip.map(|i| i.0).into(),
                    action.into(),
                    target_type.into(),
                    target_id.into(),
                    details.into(),
                    now.into(),
                ],
            )?;
            Ok(id.expect("INSERT RETURNING id"))
        })
    })
}

/// The operator's list of clinics with today's usage (each by its local date).
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn admin_clinics(
    login: default!(Option<Vec<u8>>, "NULL"),
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
            name!(created_at, TimestampWithTimeZone),
            name!(session_status, Option<String>),
            name!(tokens_today, i32),
            name!(waiting_count, i32),
            name!(serving_count, i32),
            name!(failed_messages_today, i64),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        // The operator sees every clinic; an owner, its own (its settings page reads it).
        let only = crate::login::caller(login, crate::login::May::OwnerOrOperator)?.clinic(None)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let table = db::read(
                client,
                "SELECT b.id, b.slug, b.name, b.status, b.timezone, b.settings, b.created_at, d.status, d.tokens, \
                     (SELECT count(*)::int FROM qlink.tokens t WHERE t.session_id = ANY(d.ids) AND t.status = 'WAITING'), \
                     (SELECT count(*)::int FROM qlink.tokens t WHERE t.session_id = ANY(d.ids) AND t.status = 'SERVING'), \
                     (SELECT count(*) FROM qlink.message_logs m WHERE m.business_id = b.id \
                        AND m.status = 'PERMANENTLY_FAILED' AND m.created_at >= $1 - interval '36 hours' \
                        AND (m.created_at AT TIME ZONE b.timezone)::date = ($1 AT TIME ZONE b.timezone)::date) \
                 FROM qlink.businesses b \
                 CROSS JOIN LATERAL ( \
                     SELECT CASE WHEN count(*) = 0 THEN NULL WHEN bool_and(s.status = 'CLOSED') THEN 'CLOSED' \
                                 ELSE 'OPEN' END AS status, \
                            coalesce(sum(s.last_token_number), 0)::int AS tokens, array_agg(s.id) AS ids \
                     FROM qlink.sessions s \
                     WHERE s.business_id = b.id AND s.date = ($1 AT TIME ZONE b.timezone)::date) d \
                 WHERE $2::uuid IS NULL OR b.id = $2 \
                 ORDER BY b.name, b.slug",
                &[now.into(), only.into()],
            )?;
            let mut rows = Vec::new();
            for r in table {
                let settings: JsonB = r.get(6)?.expect("settings");
                rows.push((
                    r.get(1)?.expect("id"),
                    r.get(2)?.expect("slug"),
                    r.get(3)?.expect("name"),
                    r.get(4)?.expect("status"),
                    r.get(5)?.expect("timezone"),
                    JsonB(crate::validate::Settings::from_stored(&settings.0).to_json()),
                    r.get(7)?.expect("created_at"),
                    r.get(8)?,
                    r.get(9)?.expect("tokens"),
                    r.get(10)?.expect("waiting"),
                    r.get(11)?.expect("serving"),
                    r.get(12)?.expect("failed"),
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

/// Messages for the operator, newest first, optionally of one status.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn admin_messages(
    status: default!(Option<&str>, "NULL"),
    max_rows: default!(Option<i32>, 100),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(id, i64),
            name!(business_slug, String),
            name!(token_number, Option<i32>),
            name!(message_type, String),
            name!(to_phone, Option<String>),
            name!(status, String),
            name!(reason, Option<String>),
            name!(attempts, i32),
            name!(provider_response, Option<JsonB>),
            name!(created_at, TimestampWithTimeZone),
            name!(updated_at, TimestampWithTimeZone),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        crate::login::caller(login, crate::login::May::Operator)?;
        let status = match status.map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()) {
            None => None,
            Some(s)
                if ["PENDING", "SENT", "DELIVERED", "READ", "FAILED", "PERMANENTLY_FAILED", "SKIPPED"]
                    .contains(&s.as_str()) =>
            {
                Some(s)
            }
            Some(s) => return Err(refuse(Reason::InvalidArgument, format!("Unknown message status \"{s}\"."))),
        };
        let max_rows = max_rows.unwrap_or(100).clamp(1, 1000);
        Spi::connect_mut(|client| {
            let table = db::read(
                client,
                "SELECT m.id, b.slug, t.token_number, m.message_type, m.to_phone, m.status, m.reason, m.attempts, \
                        m.provider_response, m.created_at, m.updated_at \
                 FROM qlink.message_logs m JOIN qlink.businesses b ON b.id = m.business_id \
                 LEFT JOIN qlink.tokens t ON t.id = m.token_id \
                 WHERE $1::text IS NULL OR m.status = $1 \
                 ORDER BY m.id DESC LIMIT $2",
                &[status.as_deref().into(), max_rows.into()],
            )?;
            let mut rows = Vec::new();
            for r in table {
                rows.push((
                    r.get(1)?.expect("id"),
                    r.get(2)?.expect("slug"),
                    r.get(3)?,
                    r.get(4)?.expect("type"),
                    r.get(5)?,
                    r.get(6)?.expect("status"),
                    r.get(7)?,
                    r.get(8)?.expect("attempts"),
                    r.get(9)?,
                    r.get(10)?.expect("created_at"),
                    r.get(11)?.expect("updated_at"),
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

/// The operator's audit trail, newest first.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn admin_audit_log(
    max_rows: default!(Option<i32>, 100),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(id, i64),
            name!(actor_email, String),
            name!(actor_ip, Option<String>),
            name!(action, String),
            name!(target_type, Option<String>),
            name!(target_id, Option<String>),
            name!(details, JsonB),
            name!(created_at, TimestampWithTimeZone),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        crate::login::caller(login, crate::login::May::Operator)?;
        let max_rows = max_rows.unwrap_or(100).clamp(1, 1000);
        Spi::connect_mut(|client| {
            let table = db::read(
                client,
                "SELECT id, actor_email, host(actor_ip), action, target_type, target_id, details, created_at \
                 FROM qlink.admin_audit_logs ORDER BY id DESC LIMIT $1",
                &[max_rows.into()],
            )?;
            let mut rows = Vec::new();
            for r in table {
                rows.push((
                    r.get(1)?.expect("id"),
                    r.get(2)?.expect("actor"),
                    r.get(3)?,
                    r.get(4)?.expect("action"),
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?.expect("details"),
                    r.get(8)?.expect("created_at"),
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}
