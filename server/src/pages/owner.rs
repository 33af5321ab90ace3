//! `/owner`: the clinic owner's page (an OWNER login; the operator reaches any clinic's with
//! `?clinic=SLUG`). Lines (queues), rooms, staff logins and the settings the operator lets a
//! clinic change. Plain HTML forms posted to `/owner` (they work without JavaScript, like
//! the intake page): one handler calls the typed client (sql.rs) exactly as the extension
//! asks, and the extension applies every rule (prefixes, the last active line, a room
//! without lines, another clinic's ids, which settings an owner may change) and audits it.
//! A refusal is shown above the forms with the extension's message; a change done answers
//! with a redirect back to the page (post/redirect/get), so a reload never repeats it.
//!
//! Cookie-authenticated posts must come from our own pages (the `User` extractor's Origin
//! check), so another site cannot post these forms.

use super::assets::Asset;
use super::i18n::Lang;
use super::{current_user, html_response, layout, Cache, PageError};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::{ClientIp, User};
use crate::sql::{self, Actor, ClinicLogin, QueueLine, RoomLine, SettingRow};
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use std::net::IpAddr;
use uuid::Uuid;

#[derive(Deserialize, Default)]
pub struct OwnerQuery {
    /// The operator: which clinic.
    pub clinic: Option<String>,
    /// What the last post did (shown once).
    pub done: Option<String>,
}

/// The clinic the page works on, and who works on it.
struct Scope {
    user: User,
    business_id: Uuid,
    slug: String,
    name: String,
    settings: serde_json::Value,
}

/// Whose page it is: an OWNER's own clinic, or for the operator the clinic named.
async fn scope(app: &AppState, user: User, clinic: Option<&str>) -> Result<Scope, ApiError> {
    let db = app.db.get().await?;
    let row = match (user.role.as_str(), user.business_id, clinic.map(str::trim).filter(|c| !c.is_empty())) {
        ("OWNER", Some(id), _) => {
            let slug = sql::admin_clinic(&db, id).await?.slug;
            sql::clinic_by_slug(&db, &slug).await?
        }
        ("SUPER_ADMIN", _, Some(slug)) => sql::clinic_by_slug(&db, slug).await?,
        ("SUPER_ADMIN", _, None) => {
            return Err(ApiError::InvalidInput(
                "Open a clinic's owner page from the operator panel (?clinic=…).".into(),
            ))
        }
        _ => return Err(ApiError::Forbidden("This page is for a clinic owner's login.".into())),
    };
    Ok(Scope { user, business_id: row.business_id, slug: row.slug, name: row.name, settings: row.settings })
}

fn page(title: &str, body: Markup) -> Response {
    html_response(StatusCode::OK, Cache::NoStore, layout(Lang::En, title, "desk", Some(Asset::StaffJs), body))
}

/// The login form (staff.js logs in and reloads) or "wrong kind of login".
fn not_owner(user: Option<&User>) -> Response {
    let body = match user {
        None => html! {
            main.card.login {
                h1 { "Clinic owner login" }
                p.lead { "Log in with the clinic owner's account." }
                p #message .error role="alert" hidden {}
                form #login {
                    label for="email" { "Email" }
                    input #email name="email" type="email" autocomplete="username" required;
                    label for="password" { "Password" }
                    input #password name="password" type="password" autocomplete="current-password" required;
                    button #login-button .primary type="submit" { "Log in" }
                }
            }
        },
        Some(u) => html! {
            main.card.login {
                h1 { "Clinic owner only" }
                p #wrong-login .warning { "You are logged in as " strong { (u.email) } ". This page is for a clinic's owner." }
                p { a.button.primary href="/staff" { "Go to /staff" } }
                p #message .error role="alert" hidden {}
                p { button #logout .secondary type="button" { "Log out" } }
            }
        },
    };
    page("Clinic owner · QLink", body)
}

pub async fn owner_page(State(app): State<AppState>, Query(query): Query<OwnerQuery>, mut parts: Parts) -> Response {
    let user = match current_user(&mut parts, &app).await {
        Ok(Some(u)) if matches!(u.role.as_str(), "OWNER" | "SUPER_ADMIN") => u,
        Ok(other) => return not_owner(other.as_ref()),
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    let scope = match scope(&app, user, query.clinic.as_deref()).await {
        Ok(s) => s,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    render(&app, &scope, StatusCode::OK, query.done.as_deref().and_then(done_text), None).await
}

fn done_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "queue_added" => "Line added.",
        "queue_saved" => "Line saved.",
        "room_added" => "Room added.",
        "room_saved" => "Room saved.",
        "staff_added" => "Login created.",
        "staff_saved" => "Login saved.",
        "password_reset" => "Password changed; that login's sessions were ended.",
        "sessions_ended" => "That login's sessions were ended.",
        "settings_saved" => "Settings saved.",
        _ => return None,
    })
}

struct Data {
    queues: Vec<QueueLine>,
    rooms: Vec<RoomLine>,
    staff: Vec<ClinicLogin>,
    schema: Vec<SettingRow>,
}

async fn load(app: &AppState, business_id: Uuid) -> Result<Data, ApiError> {
    let db = app.db.get().await?;
    Ok(Data {
        queues: sql::list_queues(&db, business_id).await?,
        rooms: sql::list_rooms(&db, business_id).await?,
        staff: sql::clinic_staff(&db, business_id).await?,
        schema: sql::settings_schema(&db).await?.into_iter().filter(|s| s.owner_editable).collect(),
    })
}

async fn render(
    app: &AppState,
    scope: &Scope,
    status: StatusCode,
    done: Option<&str>,
    error: Option<String>,
) -> Response {
    let data = match load(app, scope.business_id).await {
        Ok(d) => d,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    let markup = layout(
        Lang::En,
        &format!("Owner · {}", scope.name),
        "desk",
        Some(Asset::StaffJs),
        body(scope, &data, done, error.as_deref()),
    );
    html_response(status, Cache::NoStore, markup)
}

/// Hidden fields every form carries: what it does, and for the operator which clinic.
fn hidden(scope: &Scope, op: &str) -> Markup {
    html! {
        input type="hidden" name="op" value=(op);
        @if scope.user.role == "SUPER_ADMIN" { input type="hidden" name="clinic" value=(scope.slug); }
    }
}

fn body(scope: &Scope, data: &Data, done: Option<&str>, error: Option<&str>) -> Markup {
    let action = "/owner";
    html! {
        header.topbar {
            h1 #owner-title { "Owner · " (scope.name) }
            span.user { (scope.user.email) }
            a.button.secondary.small href={ "/c/" (scope.slug) "/display" } { "Lobby display" }
            button #logout .secondary.small type="button" { "Log out" }
        }
        main #owner .dashboard {
            p #message .error role="alert" hidden[error.is_none()] { @if let Some(e) = error { (e) } }
            p #notice .notice role="status" hidden[done.is_none()] { @if let Some(d) = done { (d) } }

            section #queues {
                h2 { "Lines (doctors)" }
                p.small-print { "A patient picks a line on the intake page when there are several. The prefix (0–3 capital letters) starts each token's label: A-12." }
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Prefix" } th { "Order" } th { "Active" } th { "Waiting" } th { "Poster" } th {} } }
                    tbody {
                        @for q in &data.queues {
                            @let form_id = format!("queue-{}", q.queue_id);
                            tr data-queue-id=(q.queue_id) {
                                td { input form=(form_id) name="name" type="text" maxlength="80" required value=(q.name) aria-label="Name"; }
                                td { input.short form=(form_id) name="prefix" type="text" maxlength="3" pattern="[A-Z]{0,3}" value=(q.prefix) aria-label="Prefix"; }
                                td { input.short form=(form_id) name="sort_order" type="number" step="1" value=(q.sort_order) aria-label="Order"; }
                                td { input form=(form_id) name="is_active" type="checkbox" checked[q.is_active] aria-label="Active"; }
                                td { (q.waiting_count) }
                                td { a href={ "/c/" (scope.slug) "/poster?queue=" (q.queue_id) } { "Poster" } }
                                td { form id=(form_id) method="post" action=(action) {
                                    (hidden(scope, "update_queue")) input type="hidden" name="id" value=(q.queue_id);
                                    button.small.primary type="submit" { "Save" }
                                } }
                            }
                        }
                    }
                } }
                form #add-queue .row method="post" action=(action) {
                    (hidden(scope, "create_queue"))
                    div { label for="queue-name" { "New line: name" } input #queue-name name="name" type="text" maxlength="80" required placeholder="Dr. Mehta — General"; }
                    div { label for="queue-prefix" { "Prefix" } input #queue-prefix .short name="prefix" type="text" maxlength="3" pattern="[A-Z]{0,3}"; }
                    div { button #add-queue-button .action.primary type="submit" { "Add line" } }
                }
            }

            section #rooms {
                h2 { "Rooms" }
                p.small-print { "Where patients are called to. A room calls from the lines ticked; a line served by two rooms goes twice as fast." }
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Calls from" } th { "Order" } th { "Active" } th { "Serving" } th {} } }
                    tbody {
                        @for r in &data.rooms {
                            @let form_id = format!("room-{}", r.room_id);
                            tr data-room-id=(r.room_id) {
                                td { input form=(form_id) name="name" type="text" maxlength="80" required value=(r.name) aria-label="Name"; }
                                td { (queue_checks(&data.queues, &r.queue_ids, Some(&form_id), &r.room_id.to_string())) }
                                td { input.short form=(form_id) name="sort_order" type="number" step="1" value=(r.sort_order) aria-label="Order"; }
                                td { input form=(form_id) name="is_active" type="checkbox" checked[r.is_active] aria-label="Active"; }
                                td { @match &r.serving_label { Some(l) => (l), None => "—" } }
                                td { form id=(form_id) method="post" action=(action) {
                                    (hidden(scope, "update_room")) input type="hidden" name="id" value=(r.room_id);
                                    button.small.primary type="submit" { "Save" }
                                } }
                            }
                        }
                    }
                } }
                form #add-room method="post" action=(action) {
                    (hidden(scope, "create_room"))
                    div.row {
                        div { label for="room-name" { "New room: name" } input #room-name name="name" type="text" maxlength="80" required placeholder="Room 2"; }
                    }
                    fieldset.checks { legend { "Calls from" } (queue_checks(&data.queues, &[], None, "new")) }
                    button #add-room-button .action.primary type="submit" { "Add room" }
                }
            }

            section #staff {
                h2 { "Staff logins" }
                div.table-wrap { table {
                    thead { tr { th { "Email" } th { "Role" } th { "Room" } th { "Status" } th { "Sessions" } th { "Actions" } } }
                    tbody {
                        @for s in &data.staff {
                            tr data-staff-id=(s.staff_id) data-email=(s.email) {
                                td { (s.email) }
                                td { (s.role) }
                                td { @match &s.room_name { Some(r) => (r), None => "any" } }
                                td.status { @if s.is_active { "active" } @else { "disabled" } }
                                td { (s.login_sessions) }
                                td.actions {
                                    form.inline method="post" action=(action) {
                                        (hidden(scope, "staff_active")) input type="hidden" name="id" value=(s.staff_id);
                                        input type="hidden" name="is_active" value=(if s.is_active { "false" } else { "true" });
                                        button.small.secondary type="submit" { @if s.is_active { "Disable" } @else { "Enable" } }
                                    }
                                    form.inline method="post" action=(action) {
                                        (hidden(scope, "staff_end")) input type="hidden" name="id" value=(s.staff_id);
                                        button.small.secondary type="submit" { "End sessions" }
                                    }
                                    form.inline method="post" action=(action) {
                                        (hidden(scope, "staff_reset")) input type="hidden" name="id" value=(s.staff_id);
                                        input.short name="password" type="password" minlength="8" autocomplete="new-password" required
                                            placeholder="New password" aria-label={ "New password for " (s.email) };
                                        button.small.secondary type="submit" { "Reset password" }
                                    }
                                }
                            }
                        }
                    }
                } }
                form #add-staff method="post" action=(action) {
                    (hidden(scope, "create_staff"))
                    div.grid {
                        div { label for="staff-email" { "Email" } input #staff-email name="email" type="email" required; }
                        div { label for="staff-password" { "Password (8+ characters)" }
                              input #staff-password name="password" type="password" minlength="8" autocomplete="new-password" required; }
                        div { label for="staff-role" { "Role" }
                              select #staff-role name="role" { option value="STAFF" { "Receptionist" } option value="OWNER" { "Owner" } } }
                        div { label for="staff-room" { "Works in room" }
                              select #staff-room name="room_id" {
                                  option value="" { "Any room (picks one)" }
                                  @for r in data.rooms.iter().filter(|r| r.is_active) { option value=(r.room_id) { (r.name) } }
                              } }
                    }
                    button #add-staff-button .action.primary type="submit" { "Create login" }
                }
            }

            @if !data.schema.is_empty() {
                section #settings {
                    h2 { "Clinic settings" }
                    form #settings-form method="post" action=(action) {
                        (hidden(scope, "settings"))
                        div.grid { (settings_fields(&data.schema, &scope.settings)) }
                        button #settings-save .action.primary type="submit" { "Save settings" }
                    }
                }
            }
        }
    }
}

/// A checkbox per line (`queue_ids`), ticked for the room's.
fn queue_checks(queues: &[QueueLine], ticked: &[Uuid], form: Option<&str>, key: &str) -> Markup {
    html! {
        @for q in queues {
            @let id = format!("rq-{key}-{}", q.queue_id);
            span.check-inline {
                input id=(id) form=[form] name="queue_ids" type="checkbox" value=(q.queue_id) checked[ticked.contains(&q.queue_id)];
                label for=(id) { (q.name) }
            }
        }
    }
}

fn setting_label(name: &str) -> &str {
    match name {
        "whatsapp_enabled" => "WhatsApp messages on",
        "qr_intake_enabled" => "QR sign-ups on",
        "eta_min_minutes" => "ETA low, minutes per patient",
        "eta_max_minutes" => "ETA high, minutes per patient",
        "stall_warning_minutes" => "Stall warning after, minutes",
        "reminder_at_position" => "Reminder at position, 0 = none",
        "default_language" => "Default language",
        other => other,
    }
}

/// One input per owner-editable setting, with today's value; ranges and choices come from
/// `qlink.settings_schema()`.
fn settings_fields(schema: &[SettingRow], settings: &serde_json::Value) -> Markup {
    html! {
        @for s in schema {
            @let id = format!("o-{}", s.name);
            @let value = &settings[&s.name];
            @match s.kind.as_str() {
                "integer" => {
                    @let (lo, hi) = (s.min_value.unwrap_or(0), s.max_value.unwrap_or(i64::MAX));
                    div { label for=(id) { (setting_label(&s.name)) " (" (lo) "–" (hi) ")" }
                          input id=(id) name=(s.name) type="number" min=(lo) max=(hi) step="1" required
                              value=(value.as_i64().map(|v| v.to_string()).unwrap_or_default()); }
                }
                "language" => {
                    div { label for=(id) { (setting_label(&s.name)) }
                          select id=(id) name=(s.name) {
                              @for c in s.choices.iter().flatten() {
                                  option value=(c) selected[value.as_str() == Some(c.as_str())] {
                                      (match c.as_str() { "en" => "English", "hi" => "Hindi", other => other })
                                  }
                              }
                          } }
                }
                _ => {
                    div.check {
                        input type="hidden" name=(s.name) value="false";
                        input id=(id) name=(s.name) type="checkbox" value="true" checked[value.as_bool() == Some(true)];
                        label for=(id) { (setting_label(&s.name)) }
                    }
                }
            }
        }
    }
}

/// A posted form's fields, in order (a checkbox group repeats its name).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        // The last one wins: a ticked checkbox follows its hidden "false".
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }
    fn uuid(&self, name: &str) -> Result<Uuid, ApiError> {
        Uuid::parse_str(self.text(name).trim()).map_err(|_| ApiError::not_found())
    }
    fn uuids(&self, name: &str) -> Result<Vec<Uuid>, ApiError> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| Uuid::parse_str(v.trim()).map_err(|_| ApiError::not_found()))
            .collect()
    }
    fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), Some("on" | "true"))
    }
}

pub async fn owner_submit(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    mut parts: Parts,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let user = match current_user(&mut parts, &app).await {
        Ok(Some(u)) if matches!(u.role.as_str(), "OWNER" | "SUPER_ADMIN") => u,
        Ok(other) => return not_owner(other.as_ref()),
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    let fields = Fields(form.map(|Form(f)| f).unwrap_or_default());
    let scope = match scope(&app, user, fields.get("clinic")).await {
        Ok(s) => s,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    match apply(&app, &scope, ip, &fields).await {
        Ok(done) => {
            let clinic =
                if scope.user.role == "SUPER_ADMIN" { format!("clinic={}&", scope.slug) } else { String::new() };
            (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/owner?{clinic}done={done}"))]).into_response()
        }
        Err(e @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => PageError::new(Lang::En, e).into_response(),
        Err(e) => {
            let (status, _) = e.status_and_code();
            render(&app, &scope, status, None, Some(e.to_string())).await
        }
    }
}

/// Does what the form asks; the key of the message to show.
async fn apply(app: &AppState, scope: &Scope, ip: IpAddr, f: &Fields) -> Result<&'static str, ApiError> {
    let actor = Some(Actor { email: &scope.user.email, ip: Some(ip) });
    let business = scope.business_id;
    match f.text("op") {
        "create_queue" => {
            let db = app.db.get().await?;
            sql::create_queue(&db, business, f.text("name"), Some(f.text("prefix").trim()), actor).await?;
            Ok("queue_added")
        }
        "update_queue" => {
            let sort_order = match f.text("sort_order").trim() {
                "" => None,
                n => Some(
                    n.parse::<i32>().map_err(|_| ApiError::InvalidInput("The order must be a whole number.".into()))?,
                ),
            };
            let change = sql::QueueChange {
                name: Some(f.text("name")),
                prefix: Some(f.text("prefix").trim()),
                is_active: Some(f.checked("is_active")),
                sort_order,
            };
            let db = app.db.get().await?;
            sql::update_queue(&db, business, f.uuid("id")?, &change, actor).await?;
            Ok("queue_saved")
        }
        "create_room" => {
            let queues = f.uuids("queue_ids")?;
            let db = app.db.get().await?;
            sql::create_room(&db, business, f.text("name"), &queues, actor).await?;
            Ok("room_added")
        }
        "update_room" => {
            let queues = f.uuids("queue_ids")?;
            let sort_order = match f.text("sort_order").trim() {
                "" => None,
                n => Some(
                    n.parse::<i32>().map_err(|_| ApiError::InvalidInput("The order must be a whole number.".into()))?,
                ),
            };
            let change = sql::RoomChange {
                name: Some(f.text("name")),
                queue_ids: Some(&queues),
                is_active: Some(f.checked("is_active")),
                sort_order,
            };
            let db = app.db.get().await?;
            sql::update_room(&db, business, f.uuid("id")?, &change, actor).await?;
            Ok("room_saved")
        }
        "create_staff" => {
            let role = match f.text("role") {
                "STAFF" => "STAFF",
                "OWNER" => "OWNER",
                _ => {
                    return Err(ApiError::InvalidInput("A clinic login is a receptionist (STAFF) or an owner.".into()))
                }
            };
            let room = match f.text("room_id").trim() {
                "" => None,
                _ => Some(f.uuid("room_id")?),
            };
            let hash = hash(f.text("password")).await?;
            let db = app.db.get().await?;
            sql::create_staff_user(&db, f.text("email"), &hash, role, Some(business), room).await?;
            Ok("staff_added")
        }
        "staff_active" => {
            let change =
                sql::StaffChange { is_active: Some(f.text("is_active") == "true"), room_id: None, unpin: false };
            let db = app.db.get().await?;
            sql::update_staff_user(&db, business, f.uuid("id")?, &change, actor).await?;
            Ok("staff_saved")
        }
        "staff_end" => {
            let db = app.db.get().await?;
            sql::end_staff_sessions(&db, business, f.uuid("id")?, actor).await?;
            Ok("sessions_ended")
        }
        "staff_reset" => {
            let hash = hash(f.text("password")).await?;
            let db = app.db.get().await?;
            sql::reset_staff_password(&db, business, f.uuid("id")?, &hash, actor).await?;
            Ok("password_reset")
        }
        "settings" => {
            let schema = {
                let db = app.db.get().await?;
                sql::settings_schema(&db).await?
            };
            let mut patch = serde_json::Map::new();
            for s in schema.iter().filter(|s| s.owner_editable) {
                let Some(raw) = f.get(&s.name) else { continue };
                let value = match s.kind.as_str() {
                    "integer" => serde_json::Value::from(raw.trim().parse::<i64>().map_err(|_| {
                        ApiError::InvalidInput(format!("{} must be a whole number.", setting_label(&s.name)).into())
                    })?),
                    "boolean" => serde_json::Value::from(raw == "true" || raw == "on"),
                    _ => serde_json::Value::from(raw.trim()),
                };
                patch.insert(s.name.clone(), value);
            }
            let db = app.db.get().await?;
            sql::update_clinic_settings(&db, business, &serde_json::Value::Object(patch), actor).await?;
            Ok("settings_saved")
        }
        _ => Err(ApiError::InvalidInput("Unknown form.".into())),
    }
}

/// A new password's hash, after the same strength check as everywhere else.
async fn hash(password: &str) -> Result<String, ApiError> {
    crate::accounts::check_password_strength(password).map_err(|e| ApiError::InvalidInput(e.into()))?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || crate::accounts::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Internal)
}
