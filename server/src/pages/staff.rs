//! `/staff` (the reception dashboard) and `/admin` (the operator's panel). The server only
//! decides which screen to show: the login form, the dashboard, or "wrong kind of login".
//! The screens themselves are driven by staff.js / admin.js over the JSON API with the
//! HttpOnly session cookie. The reception dashboard speaks English or Hindi (`?lang=`, else
//! the browser's language; texts in locales/staff/*.ftl, the script's travel in
//! `data-i18n`); the operator's panel is English.
//!
//! In a clinic with several rooms the dashboard works in one room: the login's pinned room,
//! or the one picked (`?room=ID`, remembered by the browser). It has a clinic overview of
//! every room (`GET /api/v1/staff/rooms`), and with several lines a TRANSFER of a token to
//! another line and a choice of line for each walk-in. A clinic with one line and one room
//! sees the 0.1 dashboard. The clinic's owner works the desk too, and finds the owner page
//! (`/owner`) and the reports (`/staff/reports`) linked from it.

use super::assets::Asset;
use super::i18n::{Lang, D};
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
    /// `en` or `hi`.
    pub lang: Option<String>,
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
    login_form_in(Lang::En, heading, hint)
}

fn login_form_in(lang: Lang, heading: &str, hint: &str) -> Markup {
    html! {
        main.card.login data-i18n=(lang.desk_json(SCRIPT_KEYS)) {
            h1 { (heading) }
            p.lead { (hint) }
            p #message .error role="alert" hidden {}
            form #login {
                label for="email" { (lang.d(D::email)) }
                input #email name="email" type="email" autocomplete="username" required;
                label for="password" { (lang.d(D::password)) }
                input #password name="password" type="password" autocomplete="current-password" required;
                button #login-button .primary type="submit" { (lang.d(D::log_in)) }
            }
        }
    }
}

/// The texts staff.js writes.
const SCRIPT_KEYS: &[D] = &[
    D::network,
    D::kiosk_close,
    D::kiosk_row,
    D::source_kiosk,
    D::network_action,
    D::send_token_to_line,
    D::send_to,
    D::no_name,
    D::badge_priority,
    D::badge_away,
    D::badge_away_expired,
    D::source_desk,
    D::source_qr,
    D::undo_what,
    D::undo_what_token,
    D::undo_nothing,
    D::undo_add_walk_in,
    D::undo_add_emergency,
    D::undo_close_day,
    D::undo_reset_day,
    D::day_closed,
    D::close_day,
    D::reception_of,
    D::nobody_seen,
    D::stall,
    D::delay_banner,
    D::delay_banner_note,
    D::row_skip,
    D::row_cancel,
    D::row_recall,
    D::row_slip,
    D::sent_to,
    D::the_other_line,
    D::enter_name,
    D::walkin_added,
    D::walkin_added_line,
    D::emergency_added,
    D::emergency_added_line,
    D::delay_set,
    D::delay_set_queued,
    D::delay_cleared,
    D::minutes_invalid,
    D::close_day_confirm,
    D::day_closed_notice,
];

/// English · हिन्दी: the dashboard in the other staff language (the room kept).
fn staff_language_switch(lang: Lang, room: Option<Uuid>) -> Markup {
    html! {
        nav.lang-switch.staff-lang aria-label=(lang.d(D::switch_language)) {
            @for (i, other) in Lang::STAFF.iter().enumerate() {
                @if i > 0 { " · " }
                @if *other == lang {
                    span aria-current="true" lang=(other.code()) { (other.native_name()) }
                } @else {
                    a href={ "/staff?lang=" (other.code()) @if let Some(r) = room { "&room=" (r) } }
                        lang=(other.code()) hreflang=(other.code()) { (other.native_name()) }
                }
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
    page_in(Lang::En, title, script, body)
}

fn page_in(lang: Lang, title: &str, script: Asset, body: Markup) -> Response {
    html_response(StatusCode::OK, Cache::NoStore, layout(lang, title, "desk", Some(script), body))
}

pub async fn staff_page(State(app): State<AppState>, Query(query): Query<DeskQuery>, mut parts: Parts) -> Response {
    let lang = Lang::choose(query.lang.as_deref(), &parts.headers, Lang::En).for_staff();
    let user = match current_user(&mut parts, &app).await {
        Ok(u) => u,
        Err(e) => return PageError::new(Lang::En, e).into_response(),
    };
    match user {
        None => page_in(
            lang,
            lang.d(D::page_title),
            Asset::StaffJs,
            html! {
                (staff_language_switch(lang, None))
                (login_form_in(lang, lang.d(D::login_heading), lang.d(D::login_hint)))
            },
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
            Ok(desk) => page_in(lang, lang.d(D::page_title), Asset::StaffJs, dashboard(lang, &u, &desk)),
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
        "kiosk_tokens_per_10min" => "Tokens per kiosk per 10 min",
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
    top_bar_in(Lang::En, title_id, title, email)
}

fn top_bar_in(lang: Lang, title_id: &str, title: &str, email: &str) -> Markup {
    html! {
        header.topbar {
            h1 id=(title_id) { (title) }
            span.user { (email) }
            button #logout .secondary.small type="button" { (lang.d(D::log_out)) }
        }
    }
}

/// The room picker: a select of the active rooms; a pinned login sees its room only.
fn room_picker(lang: Lang, desk: &Desk) -> Markup {
    html! {
        form #room-picker .room-picker method="get" action="/staff" {
            input type="hidden" name="lang" value=(lang.code());
            label for="room" { (lang.d(D::room)) }
            @if desk.pinned {
                select #room name="room" disabled {
                    @for r in desk.rooms.iter().filter(|r| Some(r.room_id) == desk.room) {
                        option value=(r.room_id) selected { (r.name) }
                    }
                }
                span.small-print { " " (lang.d(D::room_pinned)) }
            } @else {
                select #room name="room" {
                    option value="" selected[desk.room.is_none()] { (lang.d(D::choose_room)) }
                    @for r in desk.active_rooms() {
                        option value=(r.room_id) selected[desk.room == Some(r.room_id)] { (r.name) }
                    }
                }
                noscript { button.small.secondary type="submit" { (lang.d(D::open)) } }
            }
        }
    }
}

/// Every room of the clinic: whom it serves, how many wait for it.
fn overview(lang: Lang, desk: &Desk) -> Markup {
    html! {
        section #overview .overview {
            h2 { (lang.d(D::overview)) }
            div.table-wrap {
                table {
                    thead { tr {
                        th { (lang.d(D::room)) } th { (lang.d(D::lines)) } th { (lang.d(D::serving)) }
                        th { (lang.d(D::count_waiting)) }
                    } }
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

fn dashboard(lang: Lang, user: &User, desk: &Desk) -> Markup {
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
        (top_bar_in(lang, "clinic-name", lang.d(D::title), &user.email))
        (staff_language_switch(lang, desk.room))
        @if user.role == "OWNER" {
            nav.owner-link aria-label="Owner" {
                a href="/owner" { (lang.d(D::owner_page_link)) }
                " · "
                a #reports-link href="/staff/reports" { (lang.d(D::reports_link)) }
            }
        }
        main #dashboard .dashboard data-room=[desk.room] data-rooms=[several_rooms.then_some("several")]
            data-i18n=(lang.desk_json(SCRIPT_KEYS))
            data-queues=[desk.several_queues().then(|| serde_json::Value::from(queues.clone()).to_string())] {
            @if several_rooms {
                div.room-bar {
                    (room_picker(lang, desk))
                    @if let Some(name) = &room_name {
                        p #room-title .room-title { (lang.d(D::working_in)) " " strong { (name) } }
                    }
                }
                @if needs_room {
                    p #pick-room .notice role="status" { (lang.d(D::pick_room)) }
                }
            }
            (desk_body(lang, desk, &room_queues))
            @if several_rooms { (overview(lang, desk)) }
        }
    }
}

fn desk_body(lang: Lang, desk: &Desk, room_queues: &[Uuid]) -> Markup {
    let t = |key: D| lang.d(key);
    let mut walk_in_lines: Vec<&QueueLine> = desk.queues.iter().filter(|q| q.is_active).collect();
    walk_in_lines.sort_by_key(|q| !room_queues.contains(&q.queue_id));
    html! {
            p #stall .warning role="status" hidden {}
            p #message .error role="alert" hidden {}
            p #notice .notice role="status" hidden {}
            p #closed-banner .note hidden { (t(D::closed_banner)) }
            p #delay-banner .warning role="status" hidden {}
            section.serving-panel {
                div.now {
                    p.label { (t(D::now_serving)) }
                    p #serving-number .number { "—" }
                    p #serving-name .serving-name {}
                    @if desk.several_queues() {
                        p #serving-transfer-box .transfer-box hidden {
                            label for="serving-transfer" { (t(D::send_to_line)) }
                            select #serving-transfer .transfer data-transfer="serving" {}
                        }
                    }
                }
                div.actions {
                    button #next .action.primary.huge type="button" data-action="NEXT" disabled { (t(D::action_next)) kbd { "N" } }
                    button #served .action.huge type="button" data-action="SERVED" disabled { (t(D::action_served)) kbd { "S" } }
                    button #skip .action.huge.warn type="button" data-action="SKIP" disabled { (t(D::action_skip)) kbd { "K" } }
                    button #undo .action.secondary type="button" data-action="UNDO" disabled { (t(D::action_undo)) }
                }
            }
            dl #counts .counts {
                div { dt { (t(D::count_waiting)) } dd #count-waiting { "0" } }
                div { dt { (t(D::count_skipped)) } dd #count-skipped { "0" } }
                div { dt { (t(D::count_served)) } dd #count-served { "0" } }
                div { dt { (t(D::count_cancelled)) } dd #count-cancelled { "0" } }
                div { dt { (t(D::count_total)) } dd #count-total { "0" } }
                div { dt { (t(D::count_away)) } dd #count-away { "0" } }
            }
            div.columns {
                section.list {
                    h2 { (t(D::count_waiting)) " " span.small-print { (t(D::call_order)) } }
                    ol #waiting-list .tokens {}
                    p #waiting-empty .empty { (t(D::nobody_waiting)) }
                }
                section.list {
                    h2 { (t(D::count_skipped)) }
                    ul #skipped-list .tokens {}
                    p #skipped-empty .empty { (t(D::nobody_skipped)) }
                }
            }
            section.add {
                h2 { (t(D::add_heading)) }
                form #add-form {
                    div.row {
                        div { label for="add-name" { (t(D::name)) } input #add-name name="patient_name" type="text" maxlength="80" required; }
                        div { label for="add-phone" { (t(D::mobile_optional)) } input #add-phone name="patient_phone" type="tel" maxlength="20"; }
                        @if desk.several_queues() {
                            div { label for="add-queue" { (t(D::line)) }
                                  select #add-queue name="queue_id" {
                                      @for q in &walk_in_lines { option value=(q.queue_id) { (q.name) } }
                                  } }
                        }
                    }
                    div.row.buttons {
                        button #add-walkin .action.primary type="submit" data-priority="false" { (t(D::add_walkin)) }
                        button #add-emergency .action.danger type="submit" data-priority="true" { (t(D::add_emergency)) }
                    }
                    p.small-print { (t(D::emergency_hint)) }
                }
                // A slip for the patient just added (P), on this desk's printer's paper.
                div.row.slip-row {
                    a #print-slip .button.secondary target="_blank" rel="noopener" hidden { (t(D::print_slip)) }
                    div { label for="slip-paper" { (t(D::slip_paper)) }
                          select #slip-paper {
                              option value="80" { "80 mm" } option value="58" { "58 mm" } option value="a6" { "A6" }
                          } }
                }
            }
            section.delay {
                h2 { (t(D::delay_heading)) }
                form #delay-form {
                    div.row {
                        @if desk.several_queues() {
                            div { label for="delay-queue" { (t(D::line)) }
                                  select #delay-queue name="queue_id" {
                                      @for q in &walk_in_lines { option value=(q.queue_id) { (q.name) } }
                                  } }
                        }
                        div { label for="delay-minutes" { (t(D::delay_minutes)) }
                              input #delay-minutes name="minutes" type="number" min="0" max="240" step="1" value="15" required; }
                        div { label for="delay-note" { (t(D::delay_note)) }
                              input #delay-note name="note" type="text" maxlength="200"; }
                    }
                    div.row.buttons {
                        button #delay-announce .action.primary type="submit" { (t(D::delay_announce)) }
                        button #delay-clear .action.secondary type="button" { (t(D::delay_clear)) }
                    }
                    p.small-print { (t(D::delay_hint)) }
                }
            }
            section.day {
                button #close-day .action.secondary type="button" { (t(D::close_day)) }
                p.small-print { (t(D::close_day_hint)) }
            }
            // The kiosks at the door: staff.js lists the open ones from /api/v1/staff/kiosks.
            details #kiosks .kiosks {
                summary { (t(D::kiosks_heading)) }
                p.small-print { (t(D::kiosks_hint)) " " a #kiosk-path href="#" { } }
                ul #kiosk-list .kiosk-list {}
                p #kiosk-none .small-print hidden { (t(D::kiosks_none)) }
            }
            p.shortcuts.small-print {
                (t(D::keyboard)) " " kbd { "N" } " = " (t(D::action_next)) ", " kbd { "S" } " = " (t(D::action_served))
                ", " kbd { "K" } " = " (t(D::action_skip)) ", " kbd { "P" } " = " (t(D::print_slip_key)) ". " (t(D::refreshes))
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
