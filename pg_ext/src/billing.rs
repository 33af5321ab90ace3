//! Plans and monthly statements (SPEC §10). Money is integer paise throughout.
//!
//! The rule for a month: a clinic is billed for the whole month on the plan, at the terms,
//! in force at the month's end (clinic-local); for the current month, those in force now.
//! Both the clinic's plan and each plan's terms are kept with the time they took effect
//! (`qlink.clinic_plans`, `qlink.plan_terms`), so a statement of a month that is over never
//! changes.

use crate::accounts::write_admin_audit_of;
use crate::db;
use crate::error::{refuse, run, QResult, Reason};
use crate::model::Business;
use crate::reports::figures_per_clinic_sql;
use crate::rooms::text_of;
use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::Inet;
use std::sync::LazyLock;

/// The largest amount a plan may name (₹10 crore), so that no statement can overflow.
const MAX_PAISE: i64 = 10_000_000_000;
/// The largest allowance a plan may include.
const MAX_INCLUDED: i32 = 1_000_000_000;

/// A plan's terms: what a month costs.
#[derive(Clone, Debug, PartialEq)]
struct Terms {
    monthly_fee_paise: i64,
    included_tokens: i32,
    included_messages: i32,
    extra_token_paise: i64,
    extra_message_paise: i64,
}

impl Terms {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "monthly_fee_paise": self.monthly_fee_paise,
            "included_tokens": self.included_tokens,
            "included_messages": self.included_messages,
            "extra_token_paise": self.extra_token_paise,
            "extra_message_paise": self.extra_message_paise,
        })
    }
}

fn paise(value: Option<i64>, what: &str) -> QResult<i64> {
    match value {
        Some(v) if (0..=MAX_PAISE).contains(&v) => Ok(v),
        Some(v) => Err(refuse(
            Reason::InvalidPrice,
            format!("{what} must be between 0 and {MAX_PAISE} paise (₹10 crore); got {v}."),
        )),
        None => Err(refuse(Reason::InvalidPrice, format!("{what} is required."))),
    }
}

fn allowance(value: Option<i32>, what: &str) -> QResult<i32> {
    match value {
        Some(v) if (0..=MAX_INCLUDED).contains(&v) => Ok(v),
        Some(v) => Err(refuse(Reason::InvalidPrice, format!("{what} must be between 0 and {MAX_INCLUDED}; got {v}."))),
        None => Err(refuse(Reason::InvalidPrice, format!("{what} is required."))),
    }
}

fn plan_code(raw: Option<&str>) -> QResult<String> {
    let code = raw.unwrap_or("").trim();
    let ok = !code.is_empty()
        && code.len() <= 32
        && code.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(code.to_string())
    } else {
        Err(refuse(
            Reason::InvalidPlanCode,
            format!("\"{code}\" is not a plan code: use 1–32 small letters, digits, - or _, starting with a letter or digit."),
        ))
    }
}

fn unknown_plan(code: &str) -> crate::error::QError {
    refuse(Reason::UnknownPlan, format!("There is no plan \"{code}\"."))
}

/// Locks a plan and reads its current terms.
fn lock_plan(client: &mut SpiClient<'_>, code: &str) -> QResult<(String, Terms)> {
    let row = db::first(
        client,
        "SELECT name, monthly_fee_paise, included_tokens, included_messages, extra_token_paise, extra_message_paise \
         FROM qlink.plans WHERE code = $1 FOR UPDATE",
        &[code.into()],
    )?
    .ok_or_else(|| unknown_plan(code))?;
    Ok((
        db::col(&row, 1)?,
        Terms {
            monthly_fee_paise: db::col(&row, 2)?,
            included_tokens: db::col(&row, 3)?,
            included_messages: db::col(&row, 4)?,
            extra_token_paise: db::col(&row, 5)?,
            extra_message_paise: db::col(&row, 6)?,
        },
    ))
}

/// Stores a plan's terms and records them as in force from `now`.
fn store(client: &mut SpiClient<'_>, code: &str, name: &str, t: &Terms, now: TimestampWithTimeZone) -> QResult<()> {
    db::exec(
        client,
        "UPDATE qlink.plans SET name = $2, monthly_fee_paise = $3, included_tokens = $4, included_messages = $5, \
             extra_token_paise = $6, extra_message_paise = $7, updated_at = $8 WHERE code = $1",
        &[
            code.into(),
            name.into(),
            t.monthly_fee_paise.into(),
            t.included_tokens.into(),
            t.included_messages.into(),
            t.extra_token_paise.into(),
            t.extra_message_paise.into(),
            now.into(),
        ],
    )?;
    db::exec(
        client,
        "INSERT INTO qlink.plan_terms (code, valid_from, monthly_fee_paise, included_tokens, included_messages, \
             extra_token_paise, extra_message_paise) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (code, valid_from) DO UPDATE SET monthly_fee_paise = EXCLUDED.monthly_fee_paise, \
             included_tokens = EXCLUDED.included_tokens, included_messages = EXCLUDED.included_messages, \
             extra_token_paise = EXCLUDED.extra_token_paise, extra_message_paise = EXCLUDED.extra_message_paise",
        &[
            code.into(),
            now.into(),
            t.monthly_fee_paise.into(),
            t.included_tokens.into(),
            t.included_messages.into(),
            t.extra_token_paise.into(),
            t.extra_message_paise.into(),
        ],
    )?;
    Ok(())
}

/// Every plan and how many clinics are on it.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn list_plans(
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(code, String),
            name!(name, String),
            name!(monthly_fee_paise, i64),
            name!(included_tokens, i32),
            name!(included_messages, i32),
            name!(extra_token_paise, i64),
            name!(extra_message_paise, i64),
            name!(clinics, i32),
            name!(updated_at, TimestampWithTimeZone),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        crate::login::caller(login, crate::login::May::Operator)?;
        Spi::connect_mut(|client| {
            let table = db::read(
                client,
                "SELECT p.code, p.name, p.monthly_fee_paise, p.included_tokens, p.included_messages, \
                        p.extra_token_paise, p.extra_message_paise, \
                        (SELECT count(*) FROM qlink.businesses b WHERE b.plan_code = p.code)::int, p.updated_at \
                 FROM qlink.plans p ORDER BY p.monthly_fee_paise, p.code",
                &[],
            )?;
            let mut rows = Vec::with_capacity(table.len());
            for row in table {
                rows.push((
                    db::field(&row, 1)?,
                    db::field(&row, 2)?,
                    db::field(&row, 3)?,
                    db::field(&row, 4)?,
                    db::field(&row, 5)?,
                    db::field(&row, 6)?,
                    db::field(&row, 7)?,
                    db::field(&row, 8)?,
                    db::field(&row, 9)?,
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

/// Adds a plan; its terms apply from now.
// The SQL signature is the contract (sql/API.md): one argument per column, the actor last.
#[allow(clippy::too_many_arguments)]
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn create_plan(
    code: Option<&str>,
    name: Option<&str>,
    monthly_fee_paise: Option<i64>,
    included_tokens: Option<i32>,
    included_messages: Option<i32>,
    extra_token_paise: Option<i64>,
    extra_message_paise: Option<i64>,
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<String, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let code = plan_code(code)?;
        let name = text_of(name, 80, Reason::InvalidPlanName)?;
        let terms = Terms {
            monthly_fee_paise: paise(monthly_fee_paise, "monthly_fee_paise")?,
            included_tokens: allowance(included_tokens, "included_tokens")?,
            included_messages: allowance(included_messages, "included_messages")?,
            extra_token_paise: paise(extra_token_paise, "extra_token_paise")?,
            extra_message_paise: paise(extra_message_paise, "extra_message_paise")?,
        };
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let created: Option<String> = db::value(
                client,
                "INSERT INTO qlink.plans (code, name, monthly_fee_paise, included_tokens, included_messages, \
                     extra_token_paise, extra_message_paise, created_at, updated_at) \
                 VALUES ($1, $2, 0, 0, 0, 0, 0, $3, $3) ON CONFLICT (code) DO NOTHING RETURNING code",
                &[code.as_str().into(), name.as_str().into(), now.into()],
            )?;
            if created.is_none() {
                return Err(refuse(Reason::PlanCodeTaken, format!("A plan with the code \"{code}\" already exists.")));
            }
            store(client, &code, &name, &terms, now)?;
            let mut details = terms.json();
            details["name"] = name.into();
            write_admin_audit_of(
                client,
                actor_email,
                actor_ip.as_ref(),
                "CREATE_PLAN",
                "plan",
                Some(code.clone()),
                details,
                now,
            )?;
            Ok(code)
        })
    })
}

/// Changes a plan from now on: only the arguments given.
// The SQL signature is the contract (sql/API.md): one argument per column, the actor last.
#[allow(clippy::too_many_arguments)]
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn update_plan(
    code: Option<&str>,
    name: default!(Option<&str>, "NULL"),
    monthly_fee_paise: default!(Option<i64>, "NULL"),
    included_tokens: default!(Option<i32>, "NULL"),
    included_messages: default!(Option<i32>, "NULL"),
    extra_token_paise: default!(Option<i64>, "NULL"),
    extra_message_paise: default!(Option<i64>, "NULL"),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<String, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let code = code.unwrap_or("").trim().to_string();
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let (old_name, old) = lock_plan(client, &code)?;
            let name = match name {
                Some(n) => text_of(Some(n), 80, Reason::InvalidPlanName)?,
                None => old_name.clone(),
            };
            let terms = Terms {
                monthly_fee_paise: paise(monthly_fee_paise.or(Some(old.monthly_fee_paise)), "monthly_fee_paise")?,
                included_tokens: allowance(included_tokens.or(Some(old.included_tokens)), "included_tokens")?,
                included_messages: allowance(included_messages.or(Some(old.included_messages)), "included_messages")?,
                extra_token_paise: paise(extra_token_paise.or(Some(old.extra_token_paise)), "extra_token_paise")?,
                extra_message_paise: paise(
                    extra_message_paise.or(Some(old.extra_message_paise)),
                    "extra_message_paise",
                )?,
            };
            if terms == old && name == old_name {
                return Ok(code);
            }
            store(client, &code, &name, &terms, now)?;
            let mut before = old.json();
            before["name"] = old_name.into();
            let mut after = terms.json();
            after["name"] = name.into();
            let details = serde_json::json!({"before": before, "after": after});
            write_admin_audit_of(
                client,
                actor_email,
                actor_ip.as_ref(),
                "UPDATE_PLAN",
                "plan",
                Some(code.clone()),
                details,
                now,
            )?;
            Ok(code)
        })
    })
}

/// Moves a clinic to a plan from now on.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn set_clinic_plan(
    business_id: Option<pgrx::Uuid>,
    plan_code: Option<&str>,
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<String, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let code = plan_code.unwrap_or("").trim().to_string();
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            lock_plan(client, &code)?;
            let old: String = db::value(
                client,
                "SELECT plan_code FROM qlink.businesses WHERE id = $1 FOR UPDATE",
                &[business.id.into()],
            )?
            .expect("the clinic was just read");
            if old == code {
                return Ok(code);
            }
            // The first change: the plan it was on until now becomes history.
            db::exec(
                client,
                "INSERT INTO qlink.clinic_plans (business_id, valid_from, plan_code) \
                 SELECT $1, '-infinity', $2 WHERE NOT EXISTS (SELECT 1 FROM qlink.clinic_plans WHERE business_id = $1)",
                &[business.id.into(), old.as_str().into()],
            )?;
            db::exec(
                client,
                "INSERT INTO qlink.clinic_plans (business_id, valid_from, plan_code) VALUES ($1, $2, $3) \
                 ON CONFLICT (business_id, valid_from) DO UPDATE SET plan_code = EXCLUDED.plan_code",
                &[business.id.into(), now.into(), code.as_str().into()],
            )?;
            db::exec(
                client,
                "UPDATE qlink.businesses SET plan_code = $2, updated_at = $3 WHERE id = $1",
                &[business.id.into(), code.as_str().into(), now.into()],
            )?;
            let details = serde_json::json!({"from": old, "to": code});
            write_admin_audit_of(
                client,
                actor_email,
                actor_ip.as_ref(),
                "SET_CLINIC_PLAN",
                "clinic",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(code)
        })
    })
}

/// One clinic's month: the plan and terms that bill it and the billable quantities.
/// `$1` the clinic (all when NULL), `$2`–`$3` the month's first and last day, `$4` now.
/// One clinic's (`[1]`) or every clinic's (`[0]`).
static MONTHS: LazyLock<[String; 2]> = LazyLock::new(|| [months_sql(false), months_sql(true)]);

fn months_sql(one_clinic: bool) -> String {
    let clinic = if one_clinic { "b.id = $1" } else { "$1::uuid IS NULL" };
    format!(
        "WITH {}, \
         used AS (SELECT business_id, sum(tokens)::bigint AS tokens, sum(messages_sent)::bigint AS messages \
                  FROM figures GROUP BY business_id) \
         SELECT b.id, b.slug, b.name, p.code, t.monthly_fee_paise, t.included_tokens, t.included_messages, \
                t.extra_token_paise, t.extra_message_paise, coalesce(u.tokens, 0), coalesce(u.messages, 0) \
         FROM qlink.businesses b \
         CROSS JOIN LATERAL (SELECT (($3::date + 1)::timestamp AT TIME ZONE b.timezone) AS ends) e \
         CROSS JOIN LATERAL (SELECT coalesce( \
                 (SELECT c.plan_code FROM qlink.clinic_plans c \
                  WHERE c.business_id = b.id AND c.valid_from < e.ends AND c.valid_from <= $4 \
                  ORDER BY c.valid_from DESC LIMIT 1), \
                 (SELECT c.plan_code FROM qlink.clinic_plans c WHERE c.business_id = b.id \
                  ORDER BY c.valid_from LIMIT 1), \
                 b.plan_code) AS code) p \
         CROSS JOIN LATERAL (SELECT * FROM qlink.plan_terms t WHERE t.code = p.code \
                             ORDER BY CASE WHEN t.valid_from < e.ends AND t.valid_from <= $4 \
                                           THEN t.valid_from END DESC NULLS LAST, \
                                      t.valid_from LIMIT 1) t \
         LEFT JOIN used u ON u.business_id = b.id \
         WHERE {clinic} \
           AND (b.created_at < e.ends OR u.tokens > 0) \
         ORDER BY b.slug",
        figures_per_clinic_sql(one_clinic, "sum(tokens) AS tokens, sum(messages_sent) AS messages_sent")
    )
}

/// A clinic's month, as `MONTHS` reads it.
struct Month {
    business_id: pgrx::Uuid,
    slug: String,
    name: String,
    plan_code: String,
    terms: Terms,
    tokens: i64,
    messages: i64,
}

/// One line of a statement: (line, quantity, included, extra, unit_paise, amount_paise).
type Line = (String, Option<i64>, Option<i64>, Option<i64>, Option<i64>, i64);

impl Month {
    fn lines(&self) -> Vec<Line> {
        let t = &self.terms;
        let usage = |line: &str, quantity: i64, included: i32, unit: i64| -> Line {
            let extra = (quantity - i64::from(included)).max(0);
            (line.into(), Some(quantity), Some(included.into()), Some(extra), Some(unit), extra * unit)
        };
        let plan: Line = ("plan".into(), Some(1), None, None, Some(t.monthly_fee_paise), t.monthly_fee_paise);
        let tokens = usage("tokens", self.tokens, t.included_tokens, t.extra_token_paise);
        let messages = usage("messages", self.messages, t.included_messages, t.extra_message_paise);
        let total: Line = ("total".into(), None, None, None, None, plan.5 + tokens.5 + messages.5);
        vec![plan, tokens, messages, total]
    }
}

/// The month `month` is in: its first and last day. Refuses a NULL month.
fn month_of(client: &mut SpiClient<'_>, month: Option<Date>) -> QResult<(Date, Date)> {
    let month = month.ok_or_else(|| refuse(Reason::InvalidMonth, "Give the month (any day of it)."))?;
    let row = db::first(
        client,
        "SELECT date_trunc('month', $1::timestamp)::date, (date_trunc('month', $1::timestamp) + interval '1 month')::date - 1",
        &[month.into()],
    )?
    .expect("one row");
    Ok((db::col(&row, 1)?, db::col(&row, 2)?))
}

fn months(
    client: &mut SpiClient<'_>,
    business_id: Option<pgrx::Uuid>,
    (first, last): (Date, Date),
    now: TimestampWithTimeZone,
) -> QResult<Vec<Month>> {
    let table = db::read(
        client,
        MONTHS[usize::from(business_id.is_some())].as_str(),
        &[business_id.into(), first.into(), last.into(), now.into()],
    )?;
    let mut out = Vec::with_capacity(table.len());
    for row in table {
        out.push(Month {
            business_id: db::field(&row, 1)?,
            slug: db::field(&row, 2)?,
            name: db::field(&row, 3)?,
            plan_code: db::field(&row, 4)?,
            terms: Terms {
                monthly_fee_paise: db::field(&row, 5)?,
                included_tokens: db::field(&row, 6)?,
                included_messages: db::field(&row, 7)?,
                extra_token_paise: db::field(&row, 8)?,
                extra_message_paise: db::field(&row, 9)?,
            },
            tokens: db::field(&row, 10)?,
            messages: db::field(&row, 11)?,
        });
    }
    Ok(out)
}

fn future_month() -> crate::error::QError {
    refuse(Reason::InvalidMonth, "That month has not begun: a statement covers the current month or an earlier one.")
}

/// A clinic's statement for a month: plan, tokens, messages, total.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn usage_statement(
    business_id: Option<pgrx::Uuid>,
    month: Option<Date>,
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(line, String),
            name!(quantity, Option<i64>),
            name!(included, Option<i64>),
            name!(extra, Option<i64>),
            name!(unit_paise, Option<i64>),
            name!(amount_paise, i64),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let month = month_of(client, month)?;
            let future: bool = db::value(
                client,
                "SELECT $1 > date_trunc('month', $2 AT TIME ZONE $3)::date",
                &[month.0.into(), now.into(), business.timezone.as_str().into()],
            )?
            .unwrap_or(true);
            if future {
                return Err(future_month());
            }
            let mut found = months(client, Some(business.id), month, now)?;
            let Some(m) = found.pop() else {
                return Err(refuse(Reason::InvalidMonth, "The clinic did not exist yet in that month."));
            };
            Ok(TableIterator::new(m.lines()))
        })
    })
}

/// Every clinic's month: its quantities and the total of its statement.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn platform_usage(
    month: Option<Date>,
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(business_id, pgrx::Uuid),
            name!(slug, String),
            name!(name, String),
            name!(plan_code, String),
            name!(tokens, i64),
            name!(included_tokens, i64),
            name!(messages, i64),
            name!(included_messages, i64),
            name!(amount_paise, i64),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        crate::login::caller(login, crate::login::May::Operator)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let month = month_of(client, month)?;
            // The earliest time zone (UTC+14) begins a month first.
            let future: bool = db::value(
                client,
                "SELECT $1 > date_trunc('month', $2 AT TIME ZONE 'Pacific/Kiritimati')::date",
                &[month.0.into(), now.into()],
            )?
            .unwrap_or(true);
            if future {
                return Err(future_month());
            }
            let rows: Vec<_> = months(client, None, month, now)?
                .into_iter()
                .map(|m| {
                    let total = m.lines().last().map_or(0, |l| l.5);
                    (
                        m.business_id,
                        m.slug,
                        m.name,
                        m.plan_code,
                        m.tokens,
                        i64::from(m.terms.included_tokens),
                        m.messages,
                        i64::from(m.terms.included_messages),
                        total,
                    )
                })
                .collect();
            Ok(TableIterator::new(rows))
        })
    })
}
