//! Reports, usage and statements (SPEC §10). A clinic's OWNER reads its own clinic's days
//! under `/api/v1/staff/reports` (the clinic of the login, never one named in the request;
//! another clinic's `queue_id` is the extension's `queue_not_found`); the operator reads any
//! clinic's under `/api/v1/admin/clinics/{id}/…`, and the platform's. Every figure comes
//! from the extension (sql/API.md); the server only picks the default range (the last 30
//! days up to the clinic's today) and writes a table as CSV when asked (`format=csv`).

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{path_uuid, ClinicOwner, SuperAdmin};
use crate::http::rules;
use crate::sql::{self, ClinicUsage, HourlyArrivals, PlatformClinic, ReportDay, StatementLine, TrendDay};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Datelike, Days, NaiveDate};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Days in a report by default: the last 30, today included.
pub const DEFAULT_DAYS: u64 = 30;

// Query strings: dates and months are checked here, so that a malformed one is a 400 that
// says which parameter and why; the range itself (order, length) is the extension's rule.

/// A date of a query string: exactly `YYYY-MM-DD` (`rules::REPORT_DATE`), and a real day.
pub fn parse_date(name: &str, raw: &str) -> ApiResult<NaiveDate> {
    let bad = || ApiError::InvalidInput(format!("{name} must be a date written YYYY-MM-DD (2000–2099).").into());
    let b = raw.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && raw.starts_with("20");
    if !shape {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| raw[r].parse::<u32>().map_err(|_| bad());
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
        .ok_or_else(|| ApiError::InvalidInput(format!("{name}: {raw} is not a day of the calendar.").into()))
}

/// A month of a query string: exactly `YYYY-MM` (`rules::REPORT_MONTH`); its first day.
pub fn parse_month(raw: &str) -> ApiResult<NaiveDate> {
    let bad = || ApiError::InvalidInput("month must be written YYYY-MM (2000–2099).".into());
    let b = raw.as_bytes();
    let shape = b.len() == 7
        && b[4] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit())
        && raw.starts_with("20");
    if !shape {
        return Err(bad());
    }
    let year = raw[0..4].parse::<i32>().map_err(|_| bad())?;
    let month = raw[5..7].parse::<u32>().map_err(|_| bad())?;
    NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)
}

/// `YYYY-MM` of a day.
pub fn month_text(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// The first day of the day's month.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The days a report covers: those asked for, the rest by default (`to` today, `from` 29
/// days before `to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Range {
    pub fn resolve(from: Option<NaiveDate>, to: Option<NaiveDate>, today: NaiveDate) -> Range {
        let to = to.unwrap_or(today);
        let from = from.unwrap_or_else(|| to.checked_sub_days(Days::new(DEFAULT_DAYS - 1)).unwrap_or(to));
        Range { from, to }
    }

    fn parse(from: Option<&str>, to: Option<&str>, today: NaiveDate) -> ApiResult<Range> {
        let from = from.map(|f| parse_date("from", f)).transpose()?;
        let to = to.map(|t| parse_date("to", t)).transpose()?;
        Ok(Range::resolve(from, to, today))
    }
}

/// `format=json|csv`.
fn wants_csv(format: Option<&str>) -> ApiResult<bool> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(ApiError::InvalidInput("format must be json or csv.".into())),
    }
}

/// `table=`, one of `tables` (the first by default).
fn table<'a>(asked: Option<&str>, tables: &[&'a str]) -> ApiResult<&'a str> {
    match asked {
        None => Ok(tables[0]),
        Some(t) => tables
            .iter()
            .find(|x| **x == t)
            .copied()
            .ok_or_else(|| ApiError::InvalidInput(format!("table must be one of: {}.", tables.join(", ")).into())),
    }
}

// CSV: RFC 4180, a header of the JSON field names, one row per JSON object.

/// One CSV field: quoted when it holds a comma, quote or line break; a text that a
/// spreadsheet would read as a formula (starting `=`, `+`, `-`, `@`, tab or carriage
/// return) gets a leading `'`, since clinic names are typed by people.
pub fn csv_field(value: &str) -> String {
    let value =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A table as CSV: the columns named, in order, from each row's JSON (null is empty).
pub fn csv_table<T: Serialize>(columns: &[&str], rows: &[T]) -> String {
    let mut out = columns.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    for row in rows {
        let json = serde_json::to_value(row).unwrap_or_default();
        let fields: Vec<String> = columns
            .iter()
            .map(|c| match &json[*c] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => csv_field(s),
                other => csv_field(&other.to_string()),
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A CSV download named `filename` (letters, digits, `-`, `.` only: slugs and dates).
pub fn csv_response(filename: &str, body: String) -> Response {
    let safe: String =
        filename.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

pub const DAY_COLUMNS: [&str; 21] = [
    "day",
    "tokens",
    "tokens_qr",
    "tokens_staff",
    "tokens_api",
    "tokens_whatsapp",
    "tokens_kiosk",
    "served",
    "skipped",
    "cancelled",
    "unserved",
    "called",
    "wait_p50_seconds",
    "wait_p90_seconds",
    "service_p50_seconds",
    "service_p90_seconds",
    "eta_hit_rate",
    "messages_sent",
    "messages_failed",
    "max_waiting",
    "live",
];
pub const HOURLY_COLUMNS: [&str; 3] = ["weekday", "hour", "tokens"];
pub const PLATFORM_COLUMNS: [&str; 17] = [
    "business_id",
    "slug",
    "name",
    "status",
    "plan_code",
    "active_days",
    "tokens",
    "served",
    "skipped",
    "cancelled",
    "unserved",
    "wait_mean_seconds",
    "service_mean_seconds",
    "eta_hit_rate",
    "messages_sent",
    "messages_failed",
    "max_waiting",
];
pub const TREND_COLUMNS: [&str; 6] = ["day", "clinics", "tokens", "served", "messages_sent", "messages_failed"];
pub const USAGE_COLUMNS: [&str; 9] = [
    "business_id",
    "slug",
    "name",
    "plan_code",
    "tokens",
    "included_tokens",
    "messages",
    "included_messages",
    "amount_paise",
];
pub const STATEMENT_COLUMNS: [&str; 6] = ["line", "quantity", "included", "extra", "unit_paise", "amount_paise"];

// A clinic's report.

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClinicReportQuery {
    #[param(schema_with = rules::report_from)]
    pub from: Option<String>,
    #[param(schema_with = rules::report_to)]
    pub to: Option<String>,
    /// One queue (doctor) of the clinic; left out: all queues together.
    pub queue_id: Option<Uuid>,
    #[param(schema_with = rules::report_format)]
    pub format: Option<String>,
    #[param(schema_with = rules::clinic_report_table)]
    pub table: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueName {
    pub queue_id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClinicReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The queue reported on; null: all queues together.
    pub queue_id: Option<Uuid>,
    /// A row for every day of the range.
    pub days: Vec<ReportDay>,
    /// Tokens by weekday (1 = Monday) and clinic-local hour over the range: 168 rows.
    pub hourly: Vec<HourlyArrivals>,
    /// The clinic's queues, for picking one.
    pub queues: Vec<QueueName>,
}

/// A clinic's report over a range (the clinic's today decides the defaults).
pub async fn load_clinic_report(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    queue_id: Option<Uuid>,
) -> ApiResult<ClinicReport> {
    let today = sql::clinic_today(db, business_id).await?;
    let range = Range::resolve(from, to, today);
    clinic_report_over(db, login, business_id, range, queue_id).await
}

async fn clinic_report_over(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    range: Range,
    queue_id: Option<Uuid>,
) -> ApiResult<ClinicReport> {
    let days = sql::clinic_report(db, login, business_id, range.from, range.to, queue_id).await?;
    let hourly = sql::hourly_arrivals(db, login, business_id, range.from, range.to, queue_id).await?;
    let queues = sql::list_queues(db, business_id)
        .await?
        .into_iter()
        .map(|q| QueueName { queue_id: q.queue_id, name: q.name })
        .collect();
    Ok(ClinicReport { from: range.from, to: range.to, queue_id, days, hourly, queues })
}

async fn clinic_report(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    query: ClinicReportQuery,
) -> ApiResult<Response> {
    let csv = wants_csv(query.format.as_deref())?;
    let table = table(query.table.as_deref(), &rules::CLINIC_REPORT_TABLES)?;
    let db = app.db.get().await?;
    // clinic_today also refuses an unknown clinic (404).
    let today = sql::clinic_today(&db, business_id).await?;
    let range = Range::parse(query.from.as_deref(), query.to.as_deref(), today)?;
    let report = clinic_report_over(&db, login, business_id, range, query.queue_id).await?;
    if !csv {
        return Ok(Json(report).into_response());
    }
    // Only the file's name needs the slug; admin_clinics() computes every clinic's state.
    let clinic = sql::admin_clinic(&db, login, business_id).await?;
    let name = format!("qlink-{}-{table}-{}-{}.csv", clinic.slug, report.from, report.to);
    Ok(match table {
        "hourly" => csv_response(&name, csv_table(&HOURLY_COLUMNS, &report.hourly)),
        _ => csv_response(&name, csv_table(&DAY_COLUMNS, &report.days)),
    })
}

#[utoipa::path(get, path = "/api/v1/staff/reports", tag = "owner", params(ClinicReportQuery),
    description = "The clinic owner's report of its own clinic: a row per day, arrivals by weekday and hour. \
                   An OWNER login only (the operator uses /api/v1/admin/clinics/{id}/reports).",
    responses((status = 200, description = "The report, or one table as CSV",
                content((ClinicReport = "application/json"), (String = "text/csv"))),
              (status = 400, body = crate::error::ErrorBody, description = "A malformed date, or a range the extension refuses (invalid_range)"),
              (status = 404, body = crate::error::ErrorBody, description = "Not a queue of this clinic (queue_not_found)")))]
pub async fn staff_reports(
    State(app): State<AppState>,
    owner: ClinicOwner,
    Query(query): Query<ClinicReportQuery>,
) -> ApiResult<Response> {
    clinic_report(&app, owner.user.login(), owner.business_id, query).await
}

#[utoipa::path(get, path = "/api/v1/admin/clinics/{id}/reports", tag = "admin", params(("id" = Uuid, Path, description = "The clinic's business_id"), ClinicReportQuery),
    responses((status = 200, description = "The clinic's report, or one table as CSV",
                content((ClinicReport = "application/json"), (String = "text/csv"))),
              (status = 400, body = crate::error::ErrorBody, description = "A malformed date, or a range the extension refuses (invalid_range)"),
              (status = 404, body = crate::error::ErrorBody, description = "No such clinic, or not a queue of it")))]
pub async fn admin_clinic_reports(
    State(app): State<AppState>,
    admin: SuperAdmin,
    Path(id): Path<String>,
    Query(query): Query<ClinicReportQuery>,
) -> ApiResult<Response> {
    clinic_report(&app, admin.0.login(), path_uuid(&id)?, query).await
}

// The platform's report.

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlatformReportQuery {
    #[param(schema_with = rules::report_from)]
    pub from: Option<String>,
    #[param(schema_with = rules::report_to)]
    pub to: Option<String>,
    #[param(schema_with = rules::report_format)]
    pub format: Option<String>,
    #[param(schema_with = rules::platform_report_table)]
    pub table: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlatformReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Every clinic's totals over the range, by slug.
    pub clinics: Vec<PlatformClinic>,
    /// All clinics together, a row per day.
    pub trend: Vec<TrendDay>,
}

pub async fn load_platform_report(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> ApiResult<PlatformReport> {
    let range = Range::resolve(from, to, sql::platform_today(db).await?);
    platform_report_over(db, login, range).await
}

async fn platform_report_over(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    range: Range,
) -> ApiResult<PlatformReport> {
    let clinics = sql::platform_report(db, login, range.from, range.to).await?;
    let trend = sql::platform_trend(db, login, range.from, range.to).await?;
    Ok(PlatformReport { from: range.from, to: range.to, clinics, trend })
}

#[utoipa::path(get, path = "/api/v1/admin/reports", tag = "admin", params(PlatformReportQuery),
    description = "Every clinic's totals over a range (default: the last 30 days) and the platform's daily trend.",
    responses((status = 200, description = "The report, or one table as CSV",
                content((PlatformReport = "application/json"), (String = "text/csv"))),
              (status = 400, body = crate::error::ErrorBody, description = "A malformed date, or a range the extension refuses (invalid_range)")))]
pub async fn platform_reports(
    State(app): State<AppState>,
    admin: SuperAdmin,
    Query(query): Query<PlatformReportQuery>,
) -> ApiResult<Response> {
    let csv = wants_csv(query.format.as_deref())?;
    let table = table(query.table.as_deref(), &rules::PLATFORM_REPORT_TABLES)?;
    let db = app.db.get().await?;
    let range = Range::parse(query.from.as_deref(), query.to.as_deref(), sql::platform_today(&db).await?)?;
    let report = platform_report_over(&db, admin.0.login(), range).await?;
    if !csv {
        return Ok(Json(report).into_response());
    }
    let name = format!("qlink-platform-{table}-{}-{}.csv", report.from, report.to);
    Ok(match table {
        "trend" => csv_response(&name, csv_table(&TREND_COLUMNS, &report.trend)),
        _ => csv_response(&name, csv_table(&PLATFORM_COLUMNS, &report.clinics)),
    })
}

// Usage and statements.

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthQuery {
    #[param(schema_with = rules::report_month)]
    pub month: Option<String>,
    #[param(schema_with = rules::report_format)]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    /// YYYY-MM
    pub month: String,
    /// Every clinic that existed that month: its tokens and messages against its plan, and
    /// the statement's total.
    pub clinics: Vec<ClinicUsage>,
}

pub async fn load_usage(db: &impl GenericClient, login: Option<&[u8]>, month: Option<NaiveDate>) -> ApiResult<Usage> {
    let month = match month {
        Some(m) => m,
        None => month_start(sql::platform_today(db).await?),
    };
    Ok(Usage { month: month_text(month), clinics: sql::platform_usage(db, login, month).await? })
}

#[utoipa::path(get, path = "/api/v1/admin/usage", tag = "admin", params(MonthQuery),
    description = "Each clinic's usage of a month (default: this month) against its plan.",
    responses((status = 200, description = "The usage, or its table as CSV",
                content((Usage = "application/json"), (String = "text/csv"))),
              (status = 400, body = crate::error::ErrorBody, description = "A malformed month, or one after the current one (invalid_month)")))]
pub async fn usage(
    State(app): State<AppState>,
    admin: SuperAdmin,
    Query(query): Query<MonthQuery>,
) -> ApiResult<Response> {
    let csv = wants_csv(query.format.as_deref())?;
    let month = query.month.as_deref().map(parse_month).transpose()?;
    let db = app.db.get().await?;
    let usage = load_usage(&db, admin.0.login(), month).await?;
    if !csv {
        return Ok(Json(usage).into_response());
    }
    Ok(csv_response(&format!("qlink-usage-{}.csv", usage.month), csv_table(&USAGE_COLUMNS, &usage.clinics)))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Statement {
    pub business_id: Uuid,
    pub slug: String,
    pub name: String,
    /// YYYY-MM
    pub month: String,
    /// plan, tokens, messages, total: in that order.
    pub lines: Vec<StatementLine>,
}

pub async fn load_statement(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    month: Option<NaiveDate>,
) -> ApiResult<Statement> {
    let clinic = sql::admin_clinic(db, login, business_id).await?;
    let month = match month {
        Some(m) => m,
        None => month_start(sql::clinic_today(db, business_id).await?),
    };
    let lines = sql::usage_statement(db, login, business_id, month).await?;
    Ok(Statement { business_id, slug: clinic.slug, name: clinic.name, month: month_text(month), lines })
}

#[utoipa::path(get, path = "/api/v1/admin/clinics/{id}/statement", tag = "admin",
    params(("id" = Uuid, Path, description = "The clinic's business_id"), MonthQuery),
    description = "A clinic's statement of a month (default: its current month), in integer paise.",
    responses((status = 200, description = "The statement, or its lines as CSV",
                content((Statement = "application/json"), (String = "text/csv"))),
              (status = 400, body = crate::error::ErrorBody, description = "A malformed month, or one the extension refuses (invalid_month)"),
              (status = 404, body = crate::error::ErrorBody, description = "No such clinic")))]
pub async fn statement(
    State(app): State<AppState>,
    admin: SuperAdmin,
    Path(id): Path<String>,
    Query(query): Query<MonthQuery>,
) -> ApiResult<Response> {
    let business_id = path_uuid(&id)?;
    let csv = wants_csv(query.format.as_deref())?;
    let month = query.month.as_deref().map(parse_month).transpose()?;
    let db = app.db.get().await?;
    let statement = load_statement(&db, admin.0.login(), business_id, month).await?;
    if !csv {
        return Ok(Json(statement).into_response());
    }
    let name = format!("qlink-{}-statement-{}.csv", statement.slug, statement.month);
    Ok(csv_response(&name, csv_table(&STATEMENT_COLUMNS, &statement.lines)))
}

/// ₹ from integer paise, without floats: `123456` → `₹1,234.56` (Indian grouping:
/// ₹12,34,567.00).
pub fn rupees(paise: i64) -> String {
    let sign = if paise < 0 { "−" } else { "" };
    let abs = paise.unsigned_abs();
    let (whole, cents) = (abs / 100, abs % 100);
    let digits = whole.to_string();
    let grouped = if digits.len() <= 3 {
        digits
    } else {
        let (head, last3) = digits.split_at(digits.len() - 3);
        let mut parts: Vec<&str> = Vec::new();
        let mut rest = head;
        while rest.len() > 2 {
            let (a, b) = rest.split_at(rest.len() - 2);
            parts.push(b);
            rest = a;
        }
        if !rest.is_empty() {
            parts.push(rest);
        }
        parts.reverse();
        format!("{},{last3}", parts.join(","))
    };
    format!("{sign}₹{grouped}.{cents:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_months_are_strict() {
        assert_eq!(parse_date("from", "2026-03-01").unwrap(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        for bad in ["2026-3-01", "2026-02-30", "26-03-01", "2026-03-01 ", "+2026-03-0", "1999-12-31", "", "2026/03/01"]
        {
            assert!(parse_date("from", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_month("2026-03").unwrap(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        for bad in ["2026-3", "2026-13", "2026-00", "2026-03-01", "", "1999-12"] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_range_is_the_last_30_days() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 30).unwrap();
        let r = Range::resolve(None, None, today);
        assert_eq!((r.from, r.to), (NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(), today));
        let to = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        assert_eq!(Range::resolve(None, Some(to), today).from, NaiveDate::from_ymd_opt(2026, 1, 2).unwrap());
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+91"), "'+91");
        assert_eq!(csv_field("-2"), "'-2");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        #[derive(Serialize)]
        struct Row {
            name: &'static str,
            n: i64,
            rate: Option<f64>,
        }
        let csv = csv_table(&["name", "n", "rate"], &[Row { name: "=1+1", n: 3, rate: None }]);
        assert_eq!(csv, "name,n,rate\r\n'=1+1,3,\r\n");
    }

    #[test]
    fn rupees_from_paise_without_floats() {
        assert_eq!(rupees(0), "₹0.00");
        assert_eq!(rupees(50), "₹0.50");
        assert_eq!(rupees(99_900), "₹999.00");
        assert_eq!(rupees(123_456), "₹1,234.56");
        assert_eq!(rupees(123_456_789), "₹12,34,567.89");
        assert_eq!(rupees(10_000_000_000), "₹10,00,00,000.00");
        assert_eq!(rupees(-150), "−₹1.50");
    }
}
