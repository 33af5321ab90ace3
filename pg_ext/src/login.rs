//! Who is calling. Every function that reads or changes a clinic for its staff, its owner or
//! the operator takes a `login` (the SHA-256 digest of a login session's secret) and acts
//! for that login only: a clinic login on its own clinic, as itself (so its room pin holds);
//! the operator's on any clinic. The web role holds no clinic of its own, so with its
//! password alone nobody can read or change one. A caller with the privileges of the role
//! that owns these functions (a DBA in psql, a migration) may leave `login` out and act on
//! any clinic, as before.
//!
//! `qlink.login` checks a password here too (argon2id), throttled without handing anyone a
//! lockout, so the web role never sees a password hash and cannot mint a session.

use crate::db::{self, col, nullable};
use crate::error::{refuse, refused, run, QResult, Reason};
use crate::ratelimit;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{Inet, Uuid};

/// Which logins may call a function.
#[derive(Clone, Copy, Debug)]
pub enum May {
    /// The desk: a clinic's STAFF or OWNER.
    Desk,
    /// The clinic's OWNER.
    Owner,
    /// The operator (SUPER_ADMIN).
    Operator,
    /// The clinic's OWNER, or the operator.
    OwnerOrOperator,
}

impl May {
    fn allows(self, role: &str) -> bool {
        match self {
            May::Desk => matches!(role, "STAFF" | "OWNER"),
            May::Owner => role == "OWNER",
            May::Operator => role == "SUPER_ADMIN",
            May::OwnerOrOperator => matches!(role, "OWNER" | "SUPER_ADMIN"),
        }
    }
}

/// A live login session's user.
#[derive(Debug, Clone)]
pub struct Login {
    pub staff_id: Uuid,
    pub email: String,
    pub role: String,
    pub business_id: Option<Uuid>,
    pub room_id: Option<Uuid>,
    pub expires_at: TimestampWithTimeZone,
}

/// A user who may log in: active, and not of a DISABLED clinic.
pub struct Candidate {
    pub staff_id: Uuid,
    pub password_hash: String,
    pub role: String,
    pub business_id: Option<Uuid>,
    pub room_id: Option<Uuid>,
}

/// The user an email may log in as, if any.
pub fn candidate(client: &SpiClient<'_>, email: &str) -> QResult<Option<Candidate>> {
    let row = db::read_first(
        client,
        "SELECT u.id, u.password_hash, u.role, u.business_id, u.room_id FROM qlink.staff_users u \
         WHERE u.email = $1 AND u.is_active AND NOT EXISTS ( \
             SELECT 1 FROM qlink.businesses b WHERE b.id = u.business_id AND b.status = 'DISABLED')",
        &[email.into()],
    )?;
    row.map(|r| {
        Ok(Candidate {
            staff_id: col(&r, 1)?,
            password_hash: col(&r, 2)?,
            role: col(&r, 3)?,
            business_id: nullable(&r, 4)?,
            room_id: nullable(&r, 5)?,
        })
    })
    .transpose()
}

/// Who a call acts for.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The functions' owner (psql), or a 0.1 server in the hour after the upgrade: any
    /// clinic, as the arguments say.
    Owner,
    Login(Login),
}

impl Caller {
    fn clinic_login(&self) -> Option<&Login> {
        match self {
            Caller::Login(l) if l.role != "SUPER_ADMIN" => Some(l),
            _ => None,
        }
    }

    /// The clinic the call acts on: a clinic login's own (another clinic's id is "not
    /// found", as for a stranger); the operator and the owner act on the one named.
    pub fn clinic(&self, business_id: Option<Uuid>) -> QResult<Option<Uuid>> {
        match self.clinic_login() {
            Some(l) => match (business_id, l.business_id) {
                (None, own) => Ok(own),
                (Some(asked), Some(own)) if asked == own => Ok(Some(own)),
                _ => Err(refused(Reason::ClinicNotFound)),
            },
            None => Ok(business_id),
        }
    }

    /// The staff user who acts: a clinic login acts as itself only (its room pin follows
    /// from that); the operator and the owner as the arguments say.
    pub fn staff(&self, staff_id: Option<Uuid>) -> QResult<Option<Uuid>> {
        match self.clinic_login() {
            Some(l) if staff_id.is_none_or(|s| s == l.staff_id) => Ok(Some(l.staff_id)),
            Some(_) => Err(refused(Reason::LoginForbidden)),
            None => Ok(staff_id),
        }
    }

    /// Whom the audit trail names: the login's email, whatever the call says.
    pub fn email(&self, given: Option<&str>) -> Option<String> {
        match self {
            Caller::Login(l) => Some(l.email.clone()),
            Caller::Owner => given.map(str::to_string),
        }
    }
}

/// Whether the role that called (the outer user: the connection's, or the one SET ROLE
/// chose) has the privileges of the role these SECURITY DEFINER functions run as.
fn called_by_owner() -> bool {
    // SAFETY: both read the backend's user ids; has_privs_of_role reads the catalog.
    unsafe { pg_sys::has_privs_of_role(pg_sys::GetOuterUserId(), pg_sys::GetUserId()) }
}

/// The caller of a function that `may` names. A login given is always checked (so the
/// owner can try a login's rights too); without one, only the owner may call.
pub fn caller(login: Option<Vec<u8>>, may: May) -> QResult<Caller> {
    let Some(digest) = login else {
        return if called_by_owner() || Spi::connect(upgrade_window_open)? {
            Ok(Caller::Owner)
        } else {
            Err(refused(Reason::LoginRequired))
        };
    };
    let found = Spi::connect(|client| session_login(client, &digest))?.ok_or_else(|| refused(Reason::LoginRequired))?;
    if !may.allows(&found.role) {
        return Err(refused(Reason::LoginForbidden));
    }
    Ok(Caller::Login(found))
}

/// Whether the hour after an upgrade from 0.1 is still running, in which the web role's
/// calls without a login are taken as 0.1 took them (migration V11: the 0.1 servers give
/// none, and keep working the desk until they are restarted).
fn upgrade_window_open(client: &SpiClient<'_>) -> QResult<bool> {
    let now = crate::clock::now(client)?;
    let open: Option<bool> = db::read_value(
        client,
        "SELECT coalesce(bool_or(calls_without_login_until > $1), false) FROM qlink.installation_limits",
        &[now.into()],
    )?;
    Ok(open.unwrap_or(false))
}

/// The user of a live session: not expired, active, of a clinic that is not DISABLED
/// (disabling a clinic shuts its staff out at once; enabling it lets them back).
pub fn session_login(client: &SpiClient<'_>, digest: &[u8]) -> QResult<Option<Login>> {
    if digest.len() != 32 {
        return Ok(None);
    }
    let now = crate::clock::now(client)?;
    let row = db::read_first(
        client,
        "SELECT u.id, u.email, u.role, u.business_id, u.room_id, s.expires_at \
         FROM qlink.login_sessions s JOIN qlink.staff_users u ON u.id = s.staff_user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.is_active AND NOT EXISTS ( \
             SELECT 1 FROM qlink.businesses b WHERE b.id = u.business_id AND b.status = 'DISABLED')",
        &[digest.to_vec().into(), now.into()],
    )?;
    row.map(|r| {
        Ok(Login {
            staff_id: col(&r, 1)?,
            email: col(&r, 2)?,
            role: col(&r, 3)?,
            business_id: nullable(&r, 4)?,
            room_id: nullable(&r, 5)?,
            expires_at: col(&r, 6)?,
        })
    })
    .transpose()
}

/// Logins allowed per address (an IPv6 address counts by its /64), and per (email,
/// address), in [`WINDOW_SECONDS`]: one address cannot guess at length, and a flood from elsewhere
/// never refuses the right password from the user's own address.
const PER_ADDRESS: i64 = 30;
const PER_EMAIL_AND_ADDRESS: i64 = 10;
/// An email's failed logins (from anywhere) in [`WINDOW_SECONDS`] before it is paced: then one
/// attempt per [`PACE_SECONDS`] gets through. Failures only slow an email, never lock it.
const FAILURES_BEFORE_PACING: i64 = 5;
const PACE_SECONDS: i32 = 3;
const WINDOW_SECONDS: i32 = 15 * 60;

/// What a wrong email is checked against, so that it costs what a wrong password costs
/// (argon2id, the server's parameters: m=19 MiB, t=2, p=1; the password is "dummy").
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$OmChZ+XpZkqIoOyeuAxWfw$s94PCUouTQdP4CuHFxZtVwycPnZ4uEcPDquwWXjIiHs";

/// Verifies a password against an argon2id PHC string in constant time; a malformed hash
/// never matches.
fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A login: the password is checked and, if right, a session is stored under
/// `session_digest` (the SHA-256 of the secret the browser will hold) for `ttl`. The
/// outcome is a row, not an error, so that the attempt counts even when refused:
/// `ok` (with the user), `wrong` (wrong email or password: one answer for both),
/// `address_limited` (too many attempts from this address; `retry_after_seconds`), or
/// `paced` (this email failed often lately; try again after `retry_after_seconds`).
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn login(
    email: Option<&str>,
    password: Option<&str>,
    session_digest: Option<Vec<u8>>,
    ttl: Option<Interval>,
    ip: default!(Option<Inet>, "NULL"),
    user_agent: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(outcome, String),
            name!(retry_after_seconds, Option<i32>),
            name!(staff_id, Option<Uuid>),
            name!(email, Option<String>),
            name!(role, Option<String>),
            name!(business_id, Option<Uuid>),
            name!(room_id, Option<Uuid>),
            name!(expires_at, Option<TimestampWithTimeZone>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let (email, password) = credentials(email, password)?;
        let digest = session_digest
            .filter(|d| d.len() == 32)
            .ok_or_else(|| refuse(Reason::InvalidArgument, "session_digest must be 32 bytes (SHA-256)."))?;
        let ttl = ttl.ok_or_else(|| refuse(Reason::InvalidArgument, "ttl is required."))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let user = match authenticate(client, &email, password, ip.as_ref(), now)? {
                Attempt::Right(user) => user,
                other => {
                    let (outcome, seconds) = other.outcome();
                    return Ok(TableIterator::once((outcome, seconds, None, None, None, None, None, None)));
                }
            };
            let expires =
                crate::accounts::store_session(client, &digest, user.staff_id, ttl, ip.as_ref(), user_agent, now)?;
            Ok(TableIterator::once((
                "ok".to_string(),
                None,
                Some(user.staff_id),
                Some(email),
                Some(user.role),
                user.business_id,
                user.room_id,
                Some(expires),
            )))
        })
    })
}

/// The email (trimmed, lowercased) and password of a login form, or a clear refusal.
pub fn credentials<'a>(email: Option<&str>, password: Option<&'a str>) -> QResult<(String, &'a str)> {
    let email = email.unwrap_or("").trim().to_lowercase();
    let password = password.unwrap_or("");
    if email.is_empty() || email.len() > 254 || password.is_empty() || password.len() > 1024 {
        return Err(refuse(Reason::InvalidArgument, "Enter your email and password."));
    }
    Ok((email, password))
}

/// How a password check ended.
pub enum Attempt {
    Right(Candidate),
    /// Wrong email or password: one answer for both.
    Wrong,
    /// Too many attempts from this address.
    AddressLimited,
    /// This email failed often lately.
    Paced,
}

impl Attempt {
    /// The outcome a refused attempt answers, and when to try again.
    pub fn outcome(&self) -> (String, Option<i32>) {
        match self {
            Attempt::Right(_) => ("ok".into(), None),
            Attempt::Wrong => ("wrong".into(), None),
            Attempt::AddressLimited => ("address_limited".into(), Some(WINDOW_SECONDS)),
            Attempt::Paced => ("paced".into(), Some(PACE_SECONDS)),
        }
    }
}

/// Checks a password under the login throttle (the one rule for the staff login and a
/// kiosk's sign-in): the attempt counts whatever the answer.
pub fn authenticate(
    client: &mut SpiClient<'_>,
    email: &str,
    password: &str,
    ip: Option<&Inet>,
    now: TimestampWithTimeZone,
) -> QResult<Attempt> {
    if let Some(ip) = ip {
        let source = ratelimit::source_of(ip);
        let from_here = ratelimit::hit_within(client, &format!("login:ip:{source}"), PER_ADDRESS, WINDOW_SECONDS, now)?
            && ratelimit::hit_within(
                client,
                &format!("login:email-ip:{email}:{source}"),
                PER_EMAIL_AND_ADDRESS,
                WINDOW_SECONDS,
                now,
            )?;
        if !from_here {
            return Ok(Attempt::AddressLimited);
        }
    }
    let failures_key = format!("login:failed:{email}");
    if ratelimit::count_within(client, &failures_key, WINDOW_SECONDS, now)? >= FAILURES_BEFORE_PACING
        && !ratelimit::hit_within(client, &format!("login:paced:{email}"), 1, PACE_SECONDS, now)?
    {
        return Ok(Attempt::Paced);
    }
    let found = candidate(client, email)?;
    let stored = found.as_ref().map_or(DUMMY_HASH, |c| c.password_hash.as_str());
    let right = password_matches(password, stored);
    match found.filter(|_| right) {
        Some(user) => Ok(Attempt::Right(user)),
        None => {
            ratelimit::record(client, &failures_key, now)?;
            Ok(Attempt::Wrong)
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    /// A wrong email costs a whole argon2id verification, as a wrong password does: the
    /// dummy hash must parse (a malformed one would answer at once).
    #[test]
    fn the_dummy_hash_is_a_real_argon2id_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(password_matches("dummy", DUMMY_HASH));
        assert!(!password_matches("not dummy", DUMMY_HASH));
        assert!(!password_matches("dummy", "not a hash"));
    }
}
