//! `/staff/reports` (a clinic's OWNER: its own clinic's days) and `/admin/reports` (the
//! operator: the platform's trend, every clinic's totals and usage this month, a clinic's
//! statement, and the plans). Everything is rendered here from the same loaders the REST
//! routes answer with (http/reports.rs), charts included (charts.rs, SVG); each table has
//! its CSV download, which is the REST route with `format=csv`. The range and month forms
//! are plain GET forms; only the login, logout and the operator's plan forms need a
//! script (owner.js, reports.js), which send changes to the REST API and reload. English
//! only, like the other desk pages.

use super::assets::Asset;
use super::charts::{self, Series};
use super::i18n::Lang;
use super::staff::login_form;
use super::{current_user, html_response, layout, Cache, PageError};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::User;
use crate::http::reports::{self as api, rupees, ClinicReport, PlatformReport, Statement, Usage};
use crate::sql::{self, Plan, ReportDay};
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// One line (queue) of the clinic; empty: all.
    pub queue: Option<String>,
    /// The operator: the month of the usage and statement (YYYY-MM).
    pub month: Option<String>,
    /// The operator: whose statement to show.
    pub statement: Option<String>,
    /// What the last change did (shown once).
    pub done: Option<String>,
}

/// A form's value: empty is "not given".
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn date_of(name: &str, value: &Option<String>) -> Result<Option<NaiveDate>, ApiError> {
    given(value).map(|v| api::parse_date(name, v)).transpose()
}

fn page(title: &str, script: Asset, body: Markup) -> Response {
    page_with(StatusCode::OK, title, script, body)
}

fn page_with(status: StatusCode, title: &str, script: Asset, body: Markup) -> Response {
    html_response(status, Cache::NoStore, layout(Lang::En, title, "desk", Some(script), body))
}

fn wrong_login(email: &str, heading: &str, other_page: &str, why: &str) -> Markup {
    html! {
        main.card.login {
            h1 { (heading) }
            p #wrong-login .warning { "You are logged in as " strong { (email) } ". " (why) }
            p { a.button.primary href=(other_page) { "Go to " (other_page) } }
            p #message .error role="alert" hidden {}
            p { button #logout .secondary type="button" { "Log out" } }
        }
    }
}

/// A query string of (name, value) pairs, values percent-encoded.
fn query_string(pairs: &[(&str, String)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&")
}

fn minutes(seconds: Option<i32>) -> Option<f64> {
    seconds.map(|s| f64::from(s) / 60.0)
}

/// "12 min" from whole seconds (rounded to the minute, "<1 min" under 30 s), "—" for none.
fn minutes_text(seconds: Option<i32>) -> String {
    match seconds {
        None => "—".into(),
        Some(s) if s < 30 => "<1 min".into(),
        Some(s) => format!("{} min", (s + 30) / 60),
    }
}

/// "83 %" from a share 0–1, "—" for none.
fn percent_text(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r.is_finite() => format!("{:.0} %", r * 100.0),
        _ => "—".into(),
    }
}

fn legend(items: &[(&str, &str)]) -> Markup {
    html! {
        ul.legend {
            @for (class, name) in items {
                li { span class={ "swatch " (class) } aria-hidden="true" {} (name) }
            }
        }
    }
}

fn csv_link(id: &str, href: &str, label: &str) -> Markup {
    html! { p.csv { a id=(id) href=(href) download { "Download " (label) " (CSV)" } } }
}

// The clinic owner's page.

pub async fn owner_reports(
    State(app): State<AppState>,
    Query(query): Query<ReportQuery>,
    mut parts: Parts,
) -> Response {
    let user = match current_user(&mut parts, &app).await {
        Ok(u) => u,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    let title = "Reports · QLink";
    let user = match user {
        None => {
            return page(
                title,
                Asset::OwnerJs,
                login_form("Clinic owner login", "Log in with the clinic owner's account."),
            )
        }
        Some(u) if u.role == "SUPER_ADMIN" => return Redirect::to("/admin/reports").into_response(),
        Some(u) if u.role != "OWNER" || u.business_id.is_none() => {
            return page(
                title,
                Asset::OwnerJs,
                wrong_login(&u.email, "Clinic owner only", "/staff", "Reports are for the clinic's owner."),
            )
        }
        Some(u) => u,
    };
    let business_id = user.business_id.unwrap_or_default();
    match owner_data(&app, user.login(), business_id, &query).await {
        Ok((name, report)) => page(&format!("Reports · {name}"), Asset::OwnerJs, owner_body(&user, &name, &report)),
        Err(ApiError::InvalidInput(why)) => {
            // A range the form or the extension refuses: the form again, with the reason.
            let markup = owner_shell(
                &user,
                "",
                &query_form_values(&query),
                None,
                html! {
                    p #message .error role="alert" { (why.message) }
                },
            );
            page_with(StatusCode::BAD_REQUEST, title, Asset::OwnerJs, markup)
        }
        Err(e) => PageError::new(Lang::En, e).into_response(),
    }
}

struct FormValues {
    from: String,
    to: String,
    queue: Option<Uuid>,
}

fn query_form_values(query: &ReportQuery) -> FormValues {
    FormValues {
        from: given(&query.from).unwrap_or_default().to_string(),
        to: given(&query.to).unwrap_or_default().to_string(),
        queue: given(&query.queue).and_then(|q| Uuid::parse_str(q).ok()),
    }
}

async fn owner_data(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    query: &ReportQuery,
) -> Result<(String, ClinicReport), ApiError> {
    let from = date_of("from", &query.from)?;
    let to = date_of("to", &query.to)?;
    let queue = match given(&query.queue) {
        Some(q) => Some(Uuid::parse_str(q).map_err(|_| ApiError::InvalidInput("Pick a line from the list.".into()))?),
        None => None,
    };
    let db = app.db.get().await?;
    let clinic = sql::admin_clinic(&db, login, business_id).await?;
    let report = api::load_clinic_report(&db, login, business_id, from, to, queue).await?;
    Ok((clinic.name, report))
}

fn owner_shell(user: &User, name: &str, values: &FormValues, report: Option<&ClinicReport>, content: Markup) -> Markup {
    let queues = report.map(|r| r.queues.as_slice()).unwrap_or_default();
    html! {
        header.topbar {
            h1 #reports-title { "Reports" @if !name.is_empty() { " · " (name) } }
            span.user { (user.email) }
            a.button.secondary.small href="/staff" { "Reception" }
            a.button.secondary.small href="/owner" { "Owner page" }
            button #logout .secondary.small type="button" { "Log out" }
        }
        main #reports .dashboard {
            section.range {
                form #range .row method="get" action="/staff/reports" {
                    div { label for="from" { "From" } input #from name="from" type="date" value=(values.from) required; }
                    div { label for="to" { "To" } input #to name="to" type="date" value=(values.to) required; }
                    @if queues.len() > 1 {
                        div { label for="queue" { "Line (doctor)" }
                              select #queue name="queue" {
                                  option value="" selected[values.queue.is_none()] { "All lines" }
                                  @for q in queues {
                                      option value=(q.queue_id) selected[values.queue == Some(q.queue_id)] { (q.name) }
                                  }
                              } }
                    }
                    div { button #range-show .primary type="submit" { "Show" } }
                }
                p.small-print { "Days are the clinic's own (its time zone). Today is counted live." }
            }
            (content)
        }
    }
}

fn owner_body(user: &User, name: &str, report: &ClinicReport) -> Markup {
    let values = FormValues { from: report.from.to_string(), to: report.to.to_string(), queue: report.queue_id };
    let mut pairs = vec![("from", report.from.to_string()), ("to", report.to.to_string())];
    if let Some(q) = report.queue_id {
        pairs.push(("queue_id", q.to_string()));
    }
    let csv = |table: &str| {
        let mut p = pairs.clone();
        p.push(("format", "csv".into()));
        p.push(("table", table.into()));
        format!("/api/v1/staff/reports?{}", query_string(&p))
    };
    owner_shell(user, name, &values, Some(report), report_body(report, &csv("days"), &csv("hourly")))
}

/// The figures of a clinic's report: totals, the four charts, the tables.
fn report_body(report: &ClinicReport, days_csv: &str, hourly_csv: &str) -> Markup {
    let days = &report.days;
    let dates: Vec<NaiveDate> = days.iter().map(|d| d.day).collect();
    let sum = |f: fn(&ReportDay) -> i32| days.iter().map(|d| i64::from(f(d))).sum::<i64>();
    let patients = charts::stacked_bars(
        "patients",
        "Patients a day: served, skipped (no-shows) and cancelled",
        &dates,
        &[
            Series { name: "Served", color: charts::BRAND, values: days.iter().map(|d| i64::from(d.served)).collect() },
            Series {
                name: "Skipped",
                color: charts::AMBER,
                values: days.iter().map(|d| i64::from(d.skipped)).collect(),
            },
            Series {
                name: "Cancelled",
                color: charts::DANGER,
                values: days.iter().map(|d| i64::from(d.cancelled)).collect(),
            },
        ],
    );
    let waits = charts::lines(
        "waits",
        "Waits a day in minutes: median (p50) and p90",
        &dates,
        &[
            Series {
                name: "p50",
                color: charts::BRAND,
                values: days.iter().map(|d| minutes(d.wait_p50_seconds)).collect(),
            },
            Series {
                name: "p90",
                color: charts::AMBER,
                values: days.iter().map(|d| minutes(d.wait_p90_seconds)).collect(),
            },
        ],
        10.0,
        "m",
    );
    let eta = charts::lines(
        "eta",
        "ETA accuracy a day: share of called patients whose wait fell inside the range they were shown",
        &dates,
        &[Series {
            name: "ETA accuracy",
            color: charts::SLATE,
            values: days.iter().map(|d| d.eta_hit_rate.map(|r| r * 100.0)).collect(),
        }],
        100.0,
        "%",
    );
    let mut grid = [[0i64; 24]; 7];
    for h in &report.hourly {
        if (1..=7).contains(&h.weekday) && (0..24).contains(&h.hour) {
            grid[(h.weekday - 1) as usize][h.hour as usize] = h.tokens;
        }
    }
    let heatmap = charts::heatmap("arrivals", "Arrivals by hour of the day and weekday", &grid);
    let heat_max = grid.iter().flatten().copied().max().unwrap_or(0);
    html! {
        dl #totals .counts {
            div { dt { "Patients" } dd #total-tokens { (sum(|d| d.tokens)) } }
            div { dt { "Served" } dd #total-served { (sum(|d| d.served)) } }
            div { dt { "Skipped (no-shows)" } dd #total-skipped { (sum(|d| d.skipped)) } }
            div { dt { "Cancelled" } dd #total-cancelled { (sum(|d| d.cancelled)) } }
            div { dt { "Days" } dd { (days.len()) } }
        }
        div.charts {
            section #chart-patients .chart-box {
                h2 { "Patients a day" }
                (PreEscaped(patients))
                (legend(&[("served", "Served"), ("skipped", "Skipped (no-shows)"), ("cancelled", "Cancelled")]))
            }
            section #chart-waits .chart-box {
                h2 { "Waits" }
                (PreEscaped(waits))
                (legend(&[("served", "Median (p50)"), ("skipped", "p90")]))
                p.small-print { "From joining to being called, in minutes." }
            }
            section #chart-eta .chart-box {
                h2 { "ETA accuracy" }
                (PreEscaped(eta))
                p.small-print { "Of the patients called, the share whose wait fell inside the ETA range they were shown on joining." }
            }
            section #chart-arrivals .chart-box {
                h2 { "Arrivals by hour" }
                (PreEscaped(heatmap))
                p.small-print { "Darker: more patients joined in that hour (busiest: " (heat_max) " over the range)." }
                details {
                    summary { "Arrivals as a table" }
                    div.table-wrap { table #hourly-table .compact {
                        thead { tr { th { "Day" } @for h in 0..24 { th { (h) } } } }
                        tbody {
                            @for (d, row) in grid.iter().enumerate() {
                                tr { th { (charts::WEEKDAYS[d]) } @for v in row { td { (v) } } }
                            }
                        }
                    } }
                }
                (csv_link("csv-hourly", hourly_csv, "arrivals by hour"))
            }
        }
        section #days {
            h2 { "Day by day" }
            div.table-wrap { table #days-table {
                thead { tr {
                    th { "Day" } th { "Patients" } th { "Served" } th { "Skipped" } th { "Cancelled" } th { "Not seen" }
                    th { "Wait p50" } th { "Wait p90" } th { "Service p50" } th { "ETA accuracy" } th { "Longest line" }
                    th { "Messages sent" } th { "Failed" }
                } }
                tbody {
                    @for d in days {
                        tr data-day=(d.day) {
                            td.nowrap { (d.day.format("%a %-d %b %Y")) @if d.live { " " span.badge.live { "live" } } }
                            td { (d.tokens) } td { (d.served) } td { (d.skipped) }
                            td { (d.cancelled) } td { (d.unserved) }
                            td { (minutes_text(d.wait_p50_seconds)) } td { (minutes_text(d.wait_p90_seconds)) }
                            td { (minutes_text(d.service_p50_seconds)) } td { (percent_text(d.eta_hit_rate)) }
                            td { (d.max_waiting) } td { (d.messages_sent) } td { (d.messages_failed) }
                        }
                    }
                }
            } }
            (csv_link("csv-days", days_csv, "the days"))
        }
    }
}

// The operator's page.

pub async fn admin_reports(
    State(app): State<AppState>,
    Query(query): Query<ReportQuery>,
    mut parts: Parts,
) -> Response {
    let user = match current_user(&mut parts, &app).await {
        Ok(u) => u,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    let title = "Reports · QLink operator";
    let user = match user {
        None => {
            return page(
                title,
                Asset::ReportsJs,
                login_form("Operator login", "For the QLink operator (super admin) only."),
            )
        }
        Some(u) if u.role != "SUPER_ADMIN" => {
            return page(
                title,
                Asset::ReportsJs,
                wrong_login(&u.email, "Operator only", "/staff", "These reports are for the QLink operator."),
            )
        }
        Some(u) => u,
    };
    match admin_data(&app, user.login(), &query).await {
        Ok(data) => page(title, Asset::ReportsJs, admin_body(&user, &data, query.done.as_deref().and_then(done_text))),
        Err(ApiError::InvalidInput(why)) => {
            let body = html! {
                (admin_top(&user))
                main #admin-reports .dashboard {
                    p #message .error role="alert" { (why.message) }
                    p { a href="/admin/reports" { "Back to this month's reports" } }
                }
            };
            page_with(StatusCode::BAD_REQUEST, title, Asset::ReportsJs, body)
        }
        Err(e) => PageError::new(Lang::En, e).into_response(),
    }
}

fn done_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "plan_added" => "Plan created.",
        "plan_saved" => "Plan saved: the new terms apply from now on.",
        "clinic_moved" => "Clinic moved to the plan from now on.",
        _ => return None,
    })
}

struct AdminData {
    report: PlatformReport,
    usage: Usage,
    statement: Option<Statement>,
    plans: Vec<Plan>,
}

async fn admin_data(app: &AppState, login: Option<&[u8]>, query: &ReportQuery) -> Result<AdminData, ApiError> {
    let from = date_of("from", &query.from)?;
    let to = date_of("to", &query.to)?;
    let month = given(&query.month).map(api::parse_month).transpose()?;
    let statement = match given(&query.statement) {
        Some(s) => Some(Uuid::parse_str(s).map_err(|_| ApiError::not_found())?),
        None => None,
    };
    let db = app.db.get().await?;
    let report = api::load_platform_report(&db, login, from, to).await?;
    let usage = api::load_usage(&db, login, month).await?;
    let statement = match statement {
        // The statement of the month shown (the clinic's own current month by default).
        Some(id) => Some(api::load_statement(&db, login, id, month).await?),
        None => None,
    };
    let plans = sql::list_plans(&db, login).await?;
    Ok(AdminData { report, usage, statement, plans })
}

fn admin_top(user: &User) -> Markup {
    html! {
        header.topbar {
            h1 #reports-title { "Reports · QLink operator" }
            span.user { (user.email) }
            a.button.secondary.small href="/admin" { "Operator panel" }
            button #logout .secondary.small type="button" { "Log out" }
        }
    }
}

fn admin_body(user: &User, data: &AdminData, done: Option<&str>) -> Markup {
    let report = &data.report;
    let range = [("from", report.from.to_string()), ("to", report.to.to_string())];
    let with = |extra: &[(&str, String)]| {
        let mut p = range.to_vec();
        p.extend_from_slice(extra);
        query_string(&p)
    };
    let dates: Vec<NaiveDate> = report.trend.iter().map(|d| d.day).collect();
    let trend = charts::stacked_bars(
        "trend",
        "Tokens a day, all clinics: served and the rest",
        &dates,
        &[
            Series { name: "Served", color: charts::BRAND, values: report.trend.iter().map(|d| d.served).collect() },
            Series {
                name: "Not served",
                color: charts::AMBER,
                values: report.trend.iter().map(|d| (d.tokens - d.served).max(0)).collect(),
            },
        ],
    );
    let month = &data.usage.month;
    html! {
        (admin_top(user))
        main #admin-reports .dashboard {
            p #message .error role="alert" hidden {}
            p #notice .notice role="status" hidden[done.is_none()] { @if let Some(d) = done { (d) } }
            section.range {
                form #range .row method="get" action="/admin/reports" {
                    div { label for="from" { "From" } input #from name="from" type="date" value=(report.from) required; }
                    div { label for="to" { "To" } input #to name="to" type="date" value=(report.to) required; }
                    div { label for="month" { "Usage month" } input #month name="month" type="month" value=(month) required; }
                    @if let Some(s) = &data.statement { input type="hidden" name="statement" value=(s.business_id); }
                    div { button #range-show .primary type="submit" { "Show" } }
                }
            }
            section #chart-trend .chart-box {
                h2 { "Platform trend" }
                (PreEscaped(trend))
                (legend(&[("served", "Served"), ("skipped", "Not served (skipped, cancelled, walked out)")]))
                details {
                    summary { "The trend as a table" }
                    div.table-wrap { table #trend-table {
                        thead { tr { th { "Day" } th { "Clinics" } th { "Tokens" } th { "Served" } th { "Messages sent" } th { "Failed" } } }
                        tbody { @for d in &report.trend {
                            tr { td.nowrap { (d.day) } td { (d.clinics) } td { (d.tokens) } td { (d.served) } td { (d.messages_sent) } td { (d.messages_failed) } }
                        } }
                    } }
                }
                (csv_link("csv-trend", &format!("/api/v1/admin/reports?{}", with(&[("format", "csv".into()), ("table", "trend".into())])), "the trend"))
            }
            section #clinics-range {
                h2 { "Clinics, " (report.from) " to " (report.to) }
                div.table-wrap { table #clinics-table {
                    thead { tr {
                        th { "Clinic" } th { "Status" } th { "Plan" } th { "Active days" } th { "Tokens" } th { "Served" }
                        th { "Skipped" } th { "Cancelled" } th { "Mean wait" } th { "Mean service" } th { "ETA accuracy" }
                        th { "Messages" } th { "Failed" } th { "Longest line" }
                    } }
                    tbody { @for c in &report.clinics {
                        tr data-slug=(c.slug) {
                            td { strong { (c.name) } br; span.small-print { (c.slug) } }
                            td { (c.status) } td { (c.plan_code) } td { (c.active_days) } td { (c.tokens) } td { (c.served) }
                            td { (c.skipped) } td { (c.cancelled) } td { (minutes_text(c.wait_mean_seconds)) }
                            td { (minutes_text(c.service_mean_seconds)) } td { (percent_text(c.eta_hit_rate)) }
                            td { (c.messages_sent) } td { (c.messages_failed) } td { (c.max_waiting) }
                        }
                    } }
                } }
                (csv_link("csv-clinics", &format!("/api/v1/admin/reports?{}", with(&[("format", "csv".into()), ("table", "clinics".into())])), "the clinics"))
            }
            section #usage {
                h2 { "Usage, " (month) }
                div.table-wrap { table #usage-table {
                    thead { tr { th { "Clinic" } th { "Plan" } th { "Tokens / included" } th { "Messages / included" } th { "Amount" } th {} } }
                    tbody { @for u in &data.usage.clinics {
                        tr data-slug=(u.slug) {
                            td { (u.name) }
                            td { (u.plan_code) }
                            td.over[u.tokens > u.included_tokens] { (u.tokens) " / " (u.included_tokens) }
                            td.over[u.messages > u.included_messages] { (u.messages) " / " (u.included_messages) }
                            td.amount { (rupees(u.amount_paise)) }
                            td { a href={ "/admin/reports?" (query_string(&[("statement", u.business_id.to_string()), ("month", month.clone())])) "#statement" } { "Statement" } }
                        }
                    } }
                } }
                (csv_link("csv-usage", &format!("/api/v1/admin/usage?{}", query_string(&[("month", month.clone()), ("format", "csv".into())])), "the usage"))
            }
            @if let Some(s) = &data.statement { (statement_view(s)) }
            (plans_section(&data.plans, &data.usage))
        }
    }
}

fn line_name(line: &str) -> &str {
    match line {
        "plan" => "Monthly fee",
        "tokens" => "Tokens",
        "messages" => "WhatsApp messages",
        "total" => "Total",
        other => other,
    }
}

fn statement_view(s: &Statement) -> Markup {
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    html! {
        section #statement data-business-id=(s.business_id) {
            h2 { "Statement: " (s.name) ", " (s.month) }
            div.table-wrap { table #statement-table {
                thead { tr { th { "Line" } th { "Quantity" } th { "Included" } th { "Extra" } th { "Unit" } th { "Amount" } } }
                tbody { @for l in &s.lines {
                    tr data-line=(l.line) .total[l.line == "total"] {
                        td { (line_name(&l.line)) }
                        td.quantity { (opt(l.quantity)) } td.included { (opt(l.included)) } td.extra { (opt(l.extra)) }
                        td.unit { @if let Some(u) = l.unit_paise { (rupees(u)) } }
                        td.amount data-paise=(l.amount_paise) { (rupees(l.amount_paise)) }
                    }
                } }
            } }
            (csv_link("csv-statement", &format!("/api/v1/admin/clinics/{}/statement?{}", s.business_id, query_string(&[("month", s.month.clone()), ("format", "csv".into())])), "the statement"))
        }
    }
}

/// ₹ as the plan forms show it (no symbol, no grouping): `99900` → `999.00`.
fn rupee_input(paise: i64) -> String {
    format!("{}.{:02}", paise / 100, paise % 100)
}

/// Rupees with up to two decimals, as the plan forms take them.
const RUPEES: &str = r"[0-9]{1,9}(\.[0-9]{1,2})?";

fn plans_section(plans: &[Plan], usage: &Usage) -> Markup {
    html! {
        section #plans {
            h2 { "Plans" }
            p.small-print { "Amounts in ₹ (saved as integer paise). A change applies from now on: a month already over keeps the terms it ended with." }
            div.table-wrap { table #plans-table {
                thead { tr {
                    th { "Code" } th { "Name" } th { "Monthly fee ₹" } th { "Tokens included" } th { "Messages included" }
                    th { "Extra token ₹" } th { "Extra message ₹" } th { "Clinics" } th {}
                } }
                tbody { @for p in plans {
                    @let form_id = format!("plan-{}", p.code);
                    tr data-code=(p.code) {
                        td { (p.code) }
                        td { input form=(form_id) name="name" type="text" maxlength="80" required value=(p.name) aria-label="Name"; }
                        td { input.short form=(form_id) name="monthly_fee" type="text" inputmode="decimal" pattern=(RUPEES) required value=(rupee_input(p.monthly_fee_paise)) aria-label="Monthly fee in rupees"; }
                        td { input.short form=(form_id) name="included_tokens" type="number" min="0" step="1" required value=(p.included_tokens) aria-label="Tokens included"; }
                        td { input.short form=(form_id) name="included_messages" type="number" min="0" step="1" required value=(p.included_messages) aria-label="Messages included"; }
                        td { input.short form=(form_id) name="extra_token" type="text" inputmode="decimal" pattern=(RUPEES) required value=(rupee_input(p.extra_token_paise)) aria-label="Extra token in rupees"; }
                        td { input.short form=(form_id) name="extra_message" type="text" inputmode="decimal" pattern=(RUPEES) required value=(rupee_input(p.extra_message_paise)) aria-label="Extra message in rupees"; }
                        td { (p.clinics) }
                        td { form id=(form_id) data-op="update_plan" data-code=(p.code) { button.small.primary type="submit" { "Save" } } }
                    }
                } }
            } }
            form #add-plan data-op="create_plan" {
                h3 { "New plan" }
                div.grid {
                    div { label for="plan-code" { "Code (a-z, 0-9, _ and -)" } input #plan-code name="code" type="text" maxlength="32" pattern="[a-z0-9][a-z0-9_\\-]{0,31}" required; }
                    div { label for="plan-name" { "Name" } input #plan-name name="name" type="text" maxlength="80" required; }
                    div { label for="plan-fee" { "Monthly fee ₹" } input #plan-fee name="monthly_fee" type="text" inputmode="decimal" pattern=(RUPEES) required; }
                    div { label for="plan-tokens" { "Tokens included" } input #plan-tokens name="included_tokens" type="number" min="0" step="1" required; }
                    div { label for="plan-messages" { "Messages included" } input #plan-messages name="included_messages" type="number" min="0" step="1" required; }
                    div { label for="plan-extra-token" { "Extra token ₹" } input #plan-extra-token name="extra_token" type="text" inputmode="decimal" pattern=(RUPEES) required; }
                    div { label for="plan-extra-message" { "Extra message ₹" } input #plan-extra-message name="extra_message" type="text" inputmode="decimal" pattern=(RUPEES) required; }
                }
                button #add-plan-button .action.primary type="submit" { "Create plan" }
            }
            form #move-clinic data-op="set_plan" {
                h3 { "Move a clinic to a plan" }
                div.row {
                    div { label for="move-clinic-id" { "Clinic" }
                          select #move-clinic-id name="business_id" required {
                              @for u in &usage.clinics { option value=(u.business_id) { (u.name) " (" (u.plan_code) ")" } }
                          } }
                    div { label for="move-plan" { "Plan" }
                          select #move-plan name="plan_code" required {
                              @for p in plans { option value=(p.code) { (p.name) " (" (p.code) ")" } }
                          } }
                    div { button #move-clinic-button .action.primary type="submit" { "Move" } }
                }
                p.small-print { "From now on: the clinic pays the new plan for the whole of this month." }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_say_them() {
        assert_eq!(minutes_text(None), "—");
        assert_eq!(minutes_text(Some(10)), "<1 min");
        assert_eq!(minutes_text(Some(89)), "1 min");
        assert_eq!(minutes_text(Some(90)), "2 min");
        assert_eq!(percent_text(Some(0.834)), "83 %");
        assert_eq!(percent_text(None), "—");
        assert_eq!(rupee_input(99_900), "999.00");
        assert_eq!(rupee_input(50), "0.50");
        assert_eq!(query_string(&[("a", "x y&z".into()), ("b", "2026-03".into())]), "a=x%20y%26z&b=2026-03");
    }
}
