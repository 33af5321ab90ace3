//! `/owner`: the clinic owner's page (an OWNER login; the operator reaches any clinic's with
//! `?clinic=SLUG`). Lines (queues), rooms, staff logins and the settings the operator lets a
//! clinic change. The server renders what there is (read through the typed client);
//! owner.js sends every change to the REST API — `/api/v1/owner/…` for an owner,
//! `/api/v1/admin/clinics/{id}/…` for the operator — which checks and audits it through the
//! extension (prefixes, the last active line, a room without lines, another clinic's ids,
//! which settings an owner may change), then reloads the page. The clinic's WhatsApp number
//! is shown read-only: only the operator changes it. Like the desk and the panel,
//! the page needs JavaScript; it is English only.

use super::assets::Asset;
use super::i18n::Lang;
use super::{current_user, html_response, layout, Cache, PageError};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::User;
use crate::sql::{self, ClinicLogin, ClinicSender, QueueLine, RoomLine, SettingRow};
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize, Default)]
pub struct OwnerQuery {
    /// The operator: which clinic.
    pub clinic: Option<String>,
    /// What the last change did (shown once).
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
            let slug = sql::admin_clinic(&db, user.login(), id).await?.slug;
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
    html_response(StatusCode::OK, Cache::NoStore, layout(Lang::En, title, "desk", Some(Asset::OwnerJs), body))
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
    // The operator picks the clinic in the panel (its "lines, rooms & logins" link).
    if user.role == "SUPER_ADMIN" && query.clinic.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return axum::response::Redirect::to("/admin").into_response();
    }
    let scope = match scope(&app, user, query.clinic.as_deref()).await {
        Ok(s) => s,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    render(&app, &scope, query.done.as_deref().and_then(done_text)).await
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
    sender: ClinicSender,
    /// The installation's number (WHATSAPP_DISPLAY_NUMBER), for a clinic without its own.
    installation_number: Option<String>,
}

async fn load(app: &AppState, login: Option<&[u8]>, business_id: Uuid) -> Result<Data, ApiError> {
    let db = app.db.get().await?;
    Ok(Data {
        sender: sql::clinic_sender(&db, business_id).await?,
        installation_number: app.whatsapp_display_number.clone(),
        queues: sql::list_queues(&db, business_id).await?,
        rooms: sql::list_rooms(&db, business_id).await?,
        staff: sql::clinic_staff(&db, login, business_id).await?,
        schema: sql::settings_schema(&db).await?.into_iter().filter(|s| s.owner_editable).collect(),
    })
}

async fn render(app: &AppState, scope: &Scope, done: Option<&str>) -> Response {
    let data = match load(app, scope.user.login(), scope.business_id).await {
        Ok(d) => d,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    let markup =
        layout(Lang::En, &format!("Owner · {}", scope.name), "desk", Some(Asset::OwnerJs), body(scope, &data, done));
    html_response(StatusCode::OK, Cache::NoStore, markup)
}

/// Where owner.js sends the changes: the owner's own routes, or the operator's for this
/// clinic; and the settings' route (the operator changes them with the clinic).
fn api_base(scope: &Scope) -> (String, String) {
    if scope.user.role == "SUPER_ADMIN" {
        let base = format!("/api/v1/admin/clinics/{}", scope.business_id);
        (base.clone(), base)
    } else {
        ("/api/v1/owner".into(), "/api/v1/owner/settings".into())
    }
}

fn body(scope: &Scope, data: &Data, done: Option<&str>) -> Markup {
    let (api, settings_api) = api_base(scope);
    let clinic = (scope.user.role == "SUPER_ADMIN").then_some(scope.slug.as_str());
    html! {
        header.topbar {
            h1 #owner-title { "Owner · " (scope.name) }
            span.user { (scope.user.email) }
            a.button.secondary.small href={ "/c/" (scope.slug) "/display" } { "Lobby display" }
            @if scope.user.role == "OWNER" { a #reports-link .button.secondary.small href="/staff/reports" { "Reports" } }
            button #logout .secondary.small type="button" { "Log out" }
        }
        main #owner .dashboard data-api=(api) data-settings-api=(settings_api) data-clinic=[clinic] {
            noscript { p.warning { "This page needs JavaScript to save changes." } }
            p #message .error role="alert" hidden {}
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
                                td { form id=(form_id) data-op="update_queue" data-id=(q.queue_id) {
                                    button.small.primary type="submit" { "Save" }
                                } }
                            }
                        }
                    }
                } }
                form #add-queue .row data-op="create_queue" {
                    div { label for="queue-name" { "New line: name" } input #queue-name name="name" type="text" maxlength="80" required placeholder="Dr. Mehta — General"; }
                    div { label for="queue-prefix" { "Prefix" } input #queue-prefix .short name="prefix" type="text" maxlength="3" pattern="[A-Z]{0,3}"; }
                    div { button #add-queue-button .action.primary type="submit" { "Add line" } }
                }
            }

            section #rooms {
                h2 { "Rooms" }
                p.small-print { "Where patients are called to. A room calls from the lines ticked; a line served by two rooms goes twice as fast." }
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Calls from" } th { "Order" } th { "Active" } th { "Serving" } th { "Screen" } th {} } }
                    tbody {
                        @for r in &data.rooms {
                            @let form_id = format!("room-{}", r.room_id);
                            tr data-room-id=(r.room_id) {
                                td { input form=(form_id) name="name" type="text" maxlength="40" required value=(r.name) aria-label="Name"; }
                                td { (queue_checks(&data.queues, &r.queue_ids, Some(&form_id), &r.room_id.to_string())) }
                                td { input.short form=(form_id) name="sort_order" type="number" step="1" value=(r.sort_order) aria-label="Order"; }
                                td { input form=(form_id) name="is_active" type="checkbox" checked[r.is_active] aria-label="Active"; }
                                td { @match &r.serving_label { Some(l) => (l), None => "—" } }
                                td { a href={ "/c/" (scope.slug) "/display?room=" (r.room_id) } { "Screen" } }
                                td { form id=(form_id) data-op="update_room" data-id=(r.room_id) {
                                    button.small.primary type="submit" { "Save" }
                                } }
                            }
                        }
                    }
                } }
                form #add-room data-op="create_room" {
                    div.row {
                        div { label for="room-name" { "New room: name" } input #room-name name="name" type="text" maxlength="40" required placeholder="Room 2"; }
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
                                    form.inline data-op="staff_active" data-id=(s.staff_id) {
                                        input type="hidden" name="is_active" value=(if s.is_active { "false" } else { "true" });
                                        button.small.secondary type="submit" { @if s.is_active { "Disable" } @else { "Enable" } }
                                    }
                                    form.inline data-op="staff_end" data-id=(s.staff_id) {
                                        button.small.secondary type="submit" { "End sessions" }
                                    }
                                    form.inline data-op="staff_reset" data-id=(s.staff_id) {
                                        input.short name="password" type="password" minlength="8" autocomplete="new-password" required
                                            placeholder="New password" aria-label={ "New password for " (s.email) };
                                        button.small.secondary type="submit" { "Reset password" }
                                    }
                                }
                            }
                        }
                    }
                } }
                form #add-staff data-op="create_staff" {
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

            (whatsapp_section(scope, data))

            @if !data.schema.is_empty() {
                section #settings {
                    h2 { "Clinic settings" }
                    form #settings-form data-op="settings" {
                        div.grid { (settings_fields(&data.schema, &scope.settings)) }
                        button #settings-save .action.primary type="submit" { "Save settings" }
                    }
                }
            }
        }
    }
}

/// The clinic's WhatsApp number, read-only: the operator sets it (`/admin`).
fn whatsapp_section(scope: &Scope, data: &Data) -> Markup {
    let s = &data.sender;
    let number = if s.own_sender { s.display_number.clone() } else { data.installation_number.clone() };
    let link = number.as_deref().and_then(|n| crate::http::senders::join_link(n, &scope.slug));
    html! {
        section #whatsapp {
            h2 { "WhatsApp number" }
            dl.counts {
                div { dt { "Patients hear from and write to" }
                      dd #wa-number { @match &number { Some(n) => (n), None => "not configured" } } }
                div { dt { "Whose number" }
                      dd #wa-whose { @if s.own_sender { "This clinic's own" } @else { "QLink's shared number" } } }
                @if s.own_sender {
                    div { dt { "Phone number id" } dd { (s.phone_number_id.as_deref().unwrap_or("")) } }
                    div { dt { "Business account (WABA)" } dd { (s.waba_id.as_deref().unwrap_or("")) } }
                    div { dt { "Access token" }
                          dd { @if s.has_access_token { "its own (never shown)" } @else { "QLink's" } } }
                    div { dt { "New conversations per day" }
                          dd { @match s.daily_recipient_limit { Some(n) => (n), None => "" } } }
                }
            }
            @if let Some(link) = &link {
                p { "Join link for patients: " a href=(link) { (link) } }
            }
            p.small-print { "Only the QLink operator can change the clinic's WhatsApp number. Patients who reply STOP get no more messages from this clinic until they reply START." }
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
                    div { label for=(id) { (crate::pages::staff::setting_label(&s.name)) " (" (lo) "–" (hi) ")" }
                          input id=(id) name=(s.name) type="number" min=(lo) max=(hi) step="1" required
                              data-setting=(s.name) data-kind="integer"
                              value=(value.as_i64().map(|v| v.to_string()).unwrap_or_default()); }
                }
                "language" => {
                    div { label for=(id) { (crate::pages::staff::setting_label(&s.name)) }
                          select id=(id) name=(s.name) data-setting=(s.name) data-kind="language" {
                              @for c in s.choices.iter().flatten() {
                                  option value=(c) selected[value.as_str() == Some(c.as_str())] {
                                      (crate::pages::staff::language_name(c))
                                  }
                              }
                          } }
                }
                "languages" => {
                    fieldset.languages {
                        legend { (crate::pages::staff::setting_label(&s.name)) }
                        @for c in s.choices.iter().flatten() {
                            @let cid = format!("{id}-{c}");
                            @let on = value.as_array().is_some_and(|l| l.iter().any(|v| v.as_str() == Some(c.as_str())));
                            span.check {
                                input id=(cid) name=(s.name) type="checkbox" value=(c) data-setting=(s.name)
                                    data-kind="languages" checked[on];
                                label for=(cid) { (crate::pages::staff::language_name(c)) }
                            }
                        }
                    }
                }
                _ => {
                    div.check {
                        input id=(id) name=(s.name) type="checkbox" data-setting=(s.name) data-kind="boolean"
                            checked[value.as_bool() == Some(true)];
                        label for=(id) { (crate::pages::staff::setting_label(&s.name)) }
                    }
                }
            }
        }
    }
}
