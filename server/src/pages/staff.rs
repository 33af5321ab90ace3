//! `/staff` (the reception dashboard) and `/admin` (the operator's panel). The server only
//! decides which screen to show: the login form, the dashboard, or "wrong kind of login".
//! The screens themselves are driven by staff.js / admin.js over the JSON API with the
//! HttpOnly session cookie; these pages are English only.
//!
//! In a clinic with several rooms the dashboard works in one room: the login's pinned room,
//! or the one picked (`?room=ID`, remembered by the browser). It has a clinic overview of
//! every room (`GET /api/v1/staff/rooms`), and with several lines a TRANSFER of a token to
//! another line and a choice of line for each walk-in. A clinic with one line and one room
//! sees the 0.1 dashboard. The clinic's owner works the desk too, and finds the owner page
//! (`/owner`) and the reports (`/staff/reports`) linked from it.

use super::assets::Asset;
use super::i18n::Lang;
use super::{current_user, html_response, layout, Cache, PageError};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::User;
use crate::sql::{QueueLine, RoomLine};
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize, Default)]
pub struct DeskQuery {
    /// The room to work in (a clinic with several rooms).
    pub room: Option<String>,
}

/// What the dashboard needs to know about the clinic's rooms and lines.
pub struct Desk {
    pub rooms: Vec<RoomLine>,
    pub queues: Vec<QueueLine>,
    /// The room the dashboard works in: the pinned one, or the one asked for.
    pub room: Option<Uuid>,
    /// The login is pinned to that room.
    pub pinned: bool,
}

impl Desk {
    fn active_rooms(&self) -> impl Iterator<Item = &RoomLine> {
        self.rooms.iter().filter(|r| r.is_active)
    }
    /// Several rooms: the picker and the overview.
    fn several_rooms(&self) -> bool {
        self.active_rooms().count() > 1
    }
    /// Several lines: TRANSFER and the walk-in's line.
    fn several_queues(&self) -> bool {
        self.queues.len() > 1
    }
}

async fn load_desk(app: &AppState, user: &User, query: &DeskQuery) -> Result<Desk, ApiError> {
    let business_id = user.business_id.ok_or_else(ApiError::not_found)?;
    let db = app.db.get().await?;
    let rooms = crate::sql::list_rooms(&db, business_id).await?;
    let queues = crate::sql::list_queues(&db, business_id).await?;
    let asked = query.room.as_deref().and_then(|r| Uuid::parse_str(r.trim()).ok());
    let known = |id: Uuid| rooms.iter().any(|r| r.room_id == id && r.is_active);
    let (room, pinned) = match user.room_id {
        Some(pinned) => (Some(pinned), true),
        None => (asked.filter(|id| known(*id)), false),
    };
    Ok(Desk { rooms, queues, room, pinned })
}

/// A clinic login that works the desk: a receptionist, or the clinic's owner.
fn works_the_desk(user: &User) -> bool {
    matches!(user.role.as_str(), "STAFF" | "OWNER") && user.business_id.is_some()
}

/// The login card of the staff, owner and operator pages (their scripts post it).
pub(super) fn login_form(heading: &str, hint: &str) -> Markup {
    html! {
        main.card.login {
            h1 { (heading) }
            p.lead { (hint) }
            p #message .error role="alert" hidden {}
            form #login {
                label for="email" { "Email" }
                input #email name="email" type="email" autocomplete="username" required;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button #login-button .primary type="submit" { "Log in" }
            }
        }
    }
}

fn wrong_login(email: &str, this_page: &str, other_page: &str, other_label: &str) -> Markup {
    html! {
        main.card.login {
            h1 { (this_page) }
            p #wrong-login .warning {
                "You are logged in as " strong { (email) } ". " (other_label)
            }
            p { a.button.primary href=(other_page) { "Go to " (other_page) } }
            p #message .error role="alert" hidden {}
            p { button #logout .secondary type="button" { "Log out" } }
        }
    }
}

fn page(title: &str, script: Asset, body: Markup) -> Response {
    html_response(StatusCode::OK, Cache::NoStore, layout(Lang::En, title, "desk", Some(script), body))
}

pub async fn staff_page(State(app): State<AppState>, Query(query): Query<DeskQuery>, mut parts: Parts) -> Response {
    let user = match current_user(&mut parts, &app).await {
        Ok(u) => u,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    match user {
        None => page(
            "Reception · QLink",
            Asset::StaffJs,
            login_form("Reception login", "Log in with your clinic's staff account."),
        ),
        Some(u) if !works_the_desk(&u) => page(
            "Reception · QLink",
            Asset::StaffJs,
            wrong_login(
                &u.email,
                "Reception",
                "/admin",
                "This dashboard is for a clinic's staff; the operator uses the admin panel.",
            ),
        ),
        Some(u) => match load_desk(&app, &u, &query).await {
            Ok(desk) => page("Reception · QLink", Asset::StaffJs, dashboard(&u, &desk)),
            Err(e) => PageError::new(Lang::En, e).into_response(),
        },
    }
}

pub async fn admin_page(State(app): State<AppState>, mut parts: Parts) -> Response {
    let user = match current_user(&mut parts, &app).await {
        Ok(u) => u,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    match user {
        None => page(
            "Operator · QLink",
            Asset::AdminJs,
            login_form("Operator login", "For the QLink operator (super admin) only."),
        ),
        Some(u) if u.role != "SUPER_ADMIN" => page(
            "Operator · QLink",
            Asset::AdminJs,
            wrong_login(
                &u.email,
                "Operator only",
                "/staff",
                "This panel is for the QLink operator only; clinic staff use the reception dashboard.",
            ),
        ),
        Some(u) => {
            let schema = match app.db.get().await {
                Ok(db) => crate::sql::settings_schema(&db).await,
                Err(e) => Err(e.into()),
            };
            match schema {
                Ok(schema) => page("Operator · QLink", Asset::AdminJs, admin_panel(&u.email, &schema)),
                Err(e) => PageError::new(Lang::En, e).into_response(),
            }
        }
    }
}

/// What the operator reads beside each setting. Only words: types, ranges and choices
/// come from `qlink.settings_schema()`, so the form takes exactly what the extension takes.
pub(crate) fn setting_label(name: &str) -> &str {
    match name {
        "whatsapp_enabled" => "WhatsApp messages on",
        "qr_intake_enabled" => "QR sign-ups on",
        "daily_token_limit" => "Daily token limit",
        "daily_message_limit" => "Daily message limit",
        "max_tokens_per_phone_per_day" => "Tokens per phone per day",
        "ip_tokens_per_10min" => "Tokens per network per 10 min",
        "eta_min_minutes" => "ETA low, minutes per patient",
        "eta_max_minutes" => "ETA high, minutes per patient",
        "stall_warning_minutes" => "Stall warning after, minutes",
        "reminder_at_position" => "Reminder at position, 0 = none",
        "default_language" => "Default language",
        "hold_minutes" => "Patients may step out for, minutes (0 = not allowed)",
        "notify_delays" => "Tell waiting patients of a doctor's delay on WhatsApp",
        "display_languages" => "Lobby display languages",
        other => other,
    }
}

pub(crate) fn language_name(code: &str) -> &str {
    match code {
        "en" => "English",
        "hi" => "Hindi",
        "ta" => "Tamil",
        "te" => "Telugu",
        "mr" => "Marathi",
        "bn" => "Bengali",
        "kn" => "Kannada",
        "gu" => "Gujarati",
        other => other,
    }
}

/// One input per setting of the schema: numbers first, then choices, then switches.
fn settings_fields(schema: &[crate::sql::SettingRow]) -> Markup {
    let of = |kind: &'static str| schema.iter().filter(move |s| s.kind == kind);
    html! {
        @for s in of("integer") {
            @let id = format!("s-{}", s.name);
            @let (lo, hi) = (s.min_value.unwrap_or(0), s.max_value.unwrap_or(i64::MAX));
            div { label for=(id) { (setting_label(&s.name)) " (" (lo) "–" (hi) ")" }
                  input id=(id) type="number" min=(lo) max=(hi) step="1" required
                      data-setting=(s.name) data-kind="integer"; }
        }
        @for s in of("language") {
            @let id = format!("s-{}", s.name);
            div { label for=(id) { (setting_label(&s.name)) }
                  select id=(id) data-setting=(s.name) data-kind="language" {
                      @for c in s.choices.iter().flatten() { option value=(c) { (language_name(c)) } }
                  } }
        }
        @for s in of("languages") {
            fieldset.languages {
                legend { (setting_label(&s.name)) }
                @for c in s.choices.iter().flatten() {
                    @let id = format!("s-{}-{c}", s.name);
                    span.check { input id=(id) type="checkbox" value=(c) data-setting=(s.name) data-kind="languages";
                                 label for=(id) { (language_name(c)) } }
                }
            }
        }
        @for s in of("boolean") {
            @let id = format!("s-{}", s.name);
            div.check { input id=(id) type="checkbox" data-setting=(s.name) data-kind="boolean";
                        label for=(id) { (setting_label(&s.name)) } }
        }
    }
}

fn top_bar(title_id: &str, title: &str, email: &str) -> Markup {
    html! {
        header.topbar {
            h1 id=(title_id) { (title) }
            span.user { (email) }
            button #logout .secondary.small type="button" { "Log out" }
        }
    }
}

/// The room picker: a select of the active rooms; a pinned login sees its room only.
fn room_picker(desk: &Desk) -> Markup {
    html! {
        form #room-picker .room-picker method="get" action="/staff" {
            label for="room" { "Room" }
            @if desk.pinned {
                select #room name="room" disabled {
                    @for r in desk.rooms.iter().filter(|r| Some(r.room_id) == desk.room) {
                        option value=(r.room_id) selected { (r.name) }
                    }
                }
                span.small-print { " (this login works in this room)" }
            } @else {
                select #room name="room" {
                    option value="" selected[desk.room.is_none()] { "Choose a room…" }
                    @for r in desk.active_rooms() {
                        option value=(r.room_id) selected[desk.room == Some(r.room_id)] { (r.name) }
                    }
                }
                noscript { button.small.secondary type="submit" { "Open" } }
            }
        }
    }
}

/// Every room of the clinic: whom it serves, how many wait for it.
fn overview(desk: &Desk) -> Markup {
    html! {
        section #overview .overview {
            h2 { "Clinic overview" }
            div.table-wrap {
                table {
                    thead { tr { th { "Room" } th { "Lines" } th { "Serving" } th { "Waiting" } } }
                    tbody #overview-rows {
                        @for r in desk.active_rooms() {
                            tr data-room-id=(r.room_id) .here[desk.room == Some(r.room_id)] {
                                td.room-name { (r.name) }
                                td { (r.queue_names.join(", ")) }
                                td.serving { @match &r.serving_label { Some(l) => (l), None => "—" } }
                                td.waiting { (r.waiting_count) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn dashboard(user: &User, desk: &Desk) -> Markup {
    let several_rooms = desk.several_rooms();
    let queues: Vec<serde_json::Value> = desk
        .queues
        .iter()
        .map(|q| serde_json::json!({"queue_id": q.queue_id, "name": q.name, "is_active": q.is_active}))
        .collect();
    let room_name = desk.rooms.iter().find(|r| Some(r.room_id) == desk.room).map(|r| r.name.clone());
    // The room's own lines first for a walk-in.
    let room_queues: Vec<Uuid> =
        desk.rooms.iter().find(|r| Some(r.room_id) == desk.room).map(|r| r.queue_ids.clone()).unwrap_or_default();
    let needs_room = several_rooms && desk.room.is_none();
    html! {
        (top_bar("clinic-name", "Reception", &user.email))
        @if user.role == "OWNER" {
            nav.owner-link aria-label="Owner" {
                a href="/owner" { "Lines, rooms and staff logins (owner page)" }
                " · "
                a #reports-link href="/staff/reports" { "Reports" }
            }
        }
        main #dashboard .dashboard data-room=[desk.room] data-rooms=[several_rooms.then_some("several")]
            data-queues=[desk.several_queues().then(|| serde_json::Value::from(queues.clone()).to_string())] {
            @if several_rooms {
                div.room-bar {
                    (room_picker(desk))
                    @if let Some(name) = &room_name { p #room-title .room-title { "Working in " strong { (name) } } }
                }
                @if needs_room {
                    p #pick-room .notice role="status" { "Choose the room you work in to call patients." }
                }
            }
            (desk_body(desk, &room_queues))
            @if several_rooms { (overview(desk)) }
        }
    }
}

fn desk_body(desk: &Desk, room_queues: &[Uuid]) -> Markup {
    let mut walk_in_lines: Vec<&QueueLine> = desk.queues.iter().filter(|q| q.is_active).collect();
    walk_in_lines.sort_by_key(|q| !room_queues.contains(&q.queue_id));
    html! {
            p #stall .warning role="status" hidden {}
            p #message .error role="alert" hidden {}
            p #notice .notice role="status" hidden {}
            p #closed-banner .note hidden { "Today's queue is closed for QR sign-ups. You can still add and serve patients." }
            p #delay-banner .warning role="status" hidden {}
            section.serving-panel {
                div.now {
                    p.label { "Now serving" }
                    p #serving-number .number { "—" }
                    p #serving-name .serving-name {}
                    @if desk.several_queues() {
                        p #serving-transfer-box .transfer-box hidden {
                            label for="serving-transfer" { "Send to another line" }
                            select #serving-transfer .transfer data-transfer="serving" {}
                        }
                    }
                }
                div.actions {
                    button #next .action.primary.huge type="button" data-action="NEXT" disabled { "NEXT" kbd { "N" } }
                    button #served .action.huge type="button" data-action="SERVED" disabled { "SERVED" kbd { "S" } }
                    button #skip .action.huge.warn type="button" data-action="SKIP" disabled { "SKIP" kbd { "K" } }
                    button #undo .action.secondary type="button" data-action="UNDO" disabled { "UNDO" }
                }
            }
            dl #counts .counts {
                div { dt { "Waiting" } dd #count-waiting { "0" } }
                div { dt { "Skipped" } dd #count-skipped { "0" } }
                div { dt { "Served" } dd #count-served { "0" } }
                div { dt { "Cancelled" } dd #count-cancelled { "0" } }
                div { dt { "Tokens today" } dd #count-total { "0" } }
                div { dt { "Stepped out" } dd #count-away { "0" } }
            }
            div.columns {
                section.list {
                    h2 { "Waiting " span.small-print { "(call order)" } }
                    ol #waiting-list .tokens {}
                    p #waiting-empty .empty { "Nobody is waiting." }
                }
                section.list {
                    h2 { "Skipped" }
                    ul #skipped-list .tokens {}
                    p #skipped-empty .empty { "Nobody skipped." }
                }
            }
            section.add {
                h2 { "Add a patient at the desk" }
                form #add-form {
                    div.row {
                        div { label for="add-name" { "Name" } input #add-name name="patient_name" type="text" maxlength="80" required; }
                        div { label for="add-phone" { "Mobile (optional)" } input #add-phone name="patient_phone" type="tel" maxlength="20"; }
                        @if desk.several_queues() {
                            div { label for="add-queue" { "Line" }
                                  select #add-queue name="queue_id" {
                                      @for q in &walk_in_lines { option value=(q.queue_id) { (q.name) } }
                                  } }
                        }
                    }
                    div.row.buttons {
                        button #add-walkin .action.primary type="submit" data-priority="false" { "Add walk-in" }
                        button #add-emergency .action.danger type="submit" data-priority="true" { "Add emergency" }
                    }
                    p.small-print { "An emergency is called before everyone else." }
                }
            }
            section.delay {
                h2 { "Doctor delayed" }
                form #delay-form {
                    div.row {
                        @if desk.several_queues() {
                            div { label for="delay-queue" { "Line" }
                                  select #delay-queue name="queue_id" {
                                      @for q in &walk_in_lines { option value=(q.queue_id) { (q.name) } }
                                  } }
                        }
                        div { label for="delay-minutes" { "Minutes late (0–240)" }
                              input #delay-minutes name="minutes" type="number" min="0" max="240" step="1" value="15" required; }
                        div { label for="delay-note" { "Note for patients (optional)" }
                              input #delay-note name="note" type="text" maxlength="200"; }
                    }
                    div.row.buttons {
                        button #delay-announce .action.primary type="submit" { "Tell waiting patients" }
                        button #delay-clear .action.secondary type="button" { "Doctor is here (clear)" }
                    }
                    p.small-print { "Every waiting patient's time moves by the delay; it ends when you call the next patient." }
                }
            }
            section.day {
                button #close-day .action.secondary type="button" { "Close today's queue" }
                p.small-print { "Stops QR sign-ups for today. Patients already waiting keep their place." }
            }
            p.shortcuts.small-print {
                "Keyboard: " kbd { "N" } " = NEXT, " kbd { "S" } " = SERVED, " kbd { "K" } " = SKIP. "
                "The list refreshes by itself."
            }
    }
}

fn admin_panel(email: &str, schema: &[crate::sql::SettingRow]) -> Markup {
    html! {
        (top_bar("admin-title", "QLink operator", email))
        main #admin .dashboard {
            p.owner-link { a #reports-link href="/admin/reports" { "Reports, usage, statements and plans" } }
            p #message .error role="alert" hidden {}
            p #notice .notice role="status" hidden {}
            dl #metrics .counts {
                div { dt { "Tokens today" } dd #m-tokens { "–" } }
                div { dt { "Open sessions" } dd #m-sessions { "–" } }
                div { dt { "Active queues" } dd #m-queues { "–" } }
                div { dt { "Failed messages today" } dd #m-failed { "–" } }
            }
            section {
                h2 { "Clinics" }
                div.table-wrap {
                    table #clinics {
                        thead { tr {
                            th { "Clinic" } th { "Status" } th { "Today" } th { "Waiting" } th { "Serving" }
                            th { "Tokens" } th { "Failed msgs" } th { "Actions" }
                        } }
                        tbody #clinic-rows {}
                    }
                }
                p #clinics-empty .empty hidden { "No clinics yet." }
            }
            section #settings-editor .editor hidden {
                h2 { "Settings: " span #settings-clinic {} }
                form #settings-form {
                    div.grid {
                        div { label for="s-name" { "Clinic name" } input #s-name type="text" maxlength="120" required; }
                        (settings_fields(schema))
                    }
                    p #settings-error .error role="alert" hidden {}
                    div.row.buttons {
                        button #settings-save .action.primary type="submit" { "Save settings" }
                        button #settings-cancel .action.secondary type="button" { "Close" }
                    }
                }
            }
            section #sender-editor .editor hidden {
                h2 { "WhatsApp number: " span #sender-clinic {} }
                p.small-print {
                    "The clinic's own WhatsApp Business number (Meta's phone number id, the number patients see, "
                    "its business account). Without one the clinic sends from QLink's shared number. The access token "
                    "is write-only: it is stored sealed and never shown again; leave it empty to keep the stored one."
                }
                form #sender-form autocomplete="off" {
                    div.grid {
                        div { label for="w-phone-number-id" { "Phone number id (digits)" }
                              input #w-phone-number-id type="text" inputmode="numeric" pattern="\\s*[0-9]{5,32}\\s*" maxlength="40" required; }
                        div { label for="w-display-number" { "Display number (+91…)" }
                              input #w-display-number type="tel" maxlength="32" required; }
                        div { label for="w-waba-id" { "WhatsApp business account id (digits)" }
                              input #w-waba-id type="text" inputmode="numeric" pattern="\\s*[0-9]{5,32}\\s*" maxlength="40" required; }
                        div { label for="w-access-token" { "Access token (optional, write-only)" }
                              input #w-access-token type="password" autocomplete="new-password" maxlength="4096"
                                  placeholder="leave empty to keep"; }
                    }
                    p #w-token-state .small-print {}
                    div.check { input #w-clear-token type="checkbox"; label for="w-clear-token" { "Forget the stored access token (use QLink's)" } }
                    p #sender-error .error role="alert" hidden {}
                    div.row.buttons {
                        button #sender-save .action.primary type="submit" { "Save number" }
                        button #sender-remove .action.secondary type="button" { "Use QLink's number" }
                        button #sender-cancel .action.secondary type="button" { "Close" }
                    }
                }
            }
            section #senders {
                h2 { "WhatsApp senders" }
                p.small-print {
                    "Each number's unsent messages and its business account's new conversations of the last 24 hours "
                    "against Meta's daily limit (250, 2,000, 10,000 or 100,000, by the account's messaging tier). "
                    "Messages over the limit wait; they are not lost."
                }
                div.table-wrap { table {
                    thead { tr {
                        th { "Number" } th { "Account" } th { "Clinics" } th { "Pending" } th { "Held by the limit" }
                        th { "Failed (retrying)" } th { "Oldest due" } th { "Recipients 24 h / limit" } th { "Daily limit" }
                    } }
                    tbody #sender-rows {}
                } }
            }
            section {
                h2 { "Add a clinic" }
                form #create-form {
                    div.grid {
                        div { label for="c-name" { "Clinic name" } input #c-name type="text" maxlength="120" required; }
                        div { label for="c-slug" { "Short name for links (a-z, 0-9, -)" }
                              input #c-slug type="text" pattern="[a-z0-9][a-z0-9\\-]{1,62}" maxlength="63" required; }
                        div { label for="c-timezone" { "Time zone" } input #c-timezone type="text" value="Asia/Kolkata" required; }
                        div { label for="c-status" { "Status" }
                              select #c-status { option value="ACTIVE" { "Active" } option value="TRIAL" { "Trial" } } }
                        div { label for="c-email" { "First staff login: email" } input #c-email type="email" required; }
                        div { label for="c-password" { "Staff password (8+ characters)" }
                              input #c-password type="password" minlength="8" autocomplete="new-password" required; }
                    }
                    p #create-error .error role="alert" hidden {}
                    button #create-button .action.primary type="submit" { "Create clinic" }
                }
            }
            section {
                h2 { "Failed messages" }
                div.table-wrap { table #failed {
                    thead { tr { th { "When" } th { "Clinic" } th { "Token" } th { "Type" } th { "To" } th { "Attempts" } th { "Reason" } } }
                    tbody #failed-rows {}
                } }
                p #failed-empty .empty { "No permanently failed messages." }
            }
            section {
                h2 { "Admin audit log" }
                div.table-wrap { table #audit {
                    thead { tr { th { "When" } th { "Who" } th { "From" } th { "Action" } th { "Target" } th { "Details" } } }
                    tbody #audit-rows {}
                } }
            }
        }
    }
}
