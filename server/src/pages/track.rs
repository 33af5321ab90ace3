//! `/t/{token_id}`: the patient's live page. The server renders the current state (so the
//! page is right at once, and usable without JavaScript: it then refreshes itself every
//! 30 s); track.js keeps it live by polling `GET /api/v1/tokens/{id}` with the ETag, and
//! cancels and sends feedback through the JSON API. Without JavaScript the cancel and
//! feedback forms post here and come back to the page.
//!
//! The token reads by its label (`A-12`); in a clinic with several lines the page names the
//! patient's line (doctor), and with several rooms, once called, the room: "A-12 → Room 2".
//! A clinic with one line and one room shows the 0.1 page.

use super::i18n::{Lang, K};
use super::{html_response, language_switch, layout_with_head, message_page, not_found, Cache, PageError};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::{path_uuid, ApiJson};
use crate::http::public::{self, etag, load_status, TokenStatus};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

/// The strings track.js needs.
const SCRIPT_KEYS: &[K] = &[
    K::st_waiting,
    K::st_serving,
    K::st_served,
    K::st_skipped,
    K::st_cancelled,
    K::st_served_body,
    K::st_skipped_body,
    K::st_cancelled_body,
    K::people_ahead,
    K::one_ahead,
    K::you_are_next,
    K::eta,
    K::eta_soon,
    K::shift_alert,
    K::updated_at,
    K::feedback_pick,
    K::feedback_thanks,
    K::err_generic,
    K::err_offline,
    K::token,
    K::nobody_serving,
    K::go_to_room,
    K::hold_explain,
    K::held_until,
    K::returned_place,
    K::returned_front,
    K::hold_expired,
    K::err_hold,
    K::err_holds_off,
    K::reminder_saved,
    K::delay_notice,
    K::clock,
    K::clock_am,
    K::clock_pm,
];

/// What the page names besides the label: the line when the clinic has several, the room
/// when it has several active rooms; and the clinic's time zone, for the time a patient
/// who stepped out is expected back.
#[derive(Clone, Default)]
pub(super) struct Naming {
    pub(super) line: bool,
    pub(super) room: bool,
    pub(super) timezone: String,
    /// The hold's end as the clinic's clock shows it (hour, minute).
    pub(super) held_until: Option<(u32, u32)>,
    /// The active rooms that call from the token's line (the slip names the only one).
    pub(super) calling_rooms: Vec<String>,
}

pub(super) async fn naming(app: &AppState, status: &TokenStatus) -> Result<Naming, ApiError> {
    let db = app.db.get().await?;
    let clinic = crate::sql::clinic_by_slug(&db, &status.business_slug).await?;
    let rooms = crate::sql::list_rooms(&db, clinic.business_id).await?;
    let held_until = match status.held_until {
        Some(at) => Some(crate::sql::clock_in(&db, at, &clinic.timezone).await?),
        None => None,
    };
    Ok(Naming {
        line: clinic.queue_count > 1,
        room: rooms.iter().filter(|r| r.is_active).count() > 1,
        timezone: clinic.timezone,
        held_until,
        calling_rooms: rooms
            .into_iter()
            .filter(|r| r.is_active && r.queue_ids.contains(&status.queue_id))
            .map(|r| r.name)
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct TrackQuery {
    pub lang: Option<String>,
}

/// The token's own language (the patient chose it when joining) unless the page was asked
/// for another one.
fn lang_for(query: &TrackQuery, status: Option<&TokenStatus>, headers: &HeaderMap) -> Lang {
    let chosen = query.lang.as_deref().and_then(Lang::parse);
    let token = status.and_then(|s| Lang::parse(&s.language));
    chosen.or(token).unwrap_or_else(|| Lang::choose(None, headers, Lang::En))
}

pub async fn page(
    State(app): State<AppState>,
    Path(raw_id): Path<String>,
    Query(query): Query<TrackQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(id) = path_uuid(&raw_id) else {
        return not_found(lang_for(&query, None, &headers));
    };
    let status = match load_status(&app, id).await {
        Ok(s) => s,
        Err(e) => return PageError::new(lang_for(&query, None, &headers), e).into_response(),
    };
    let lang = lang_for(&query, Some(&status), &headers);
    let naming = match naming(&app, &status).await {
        Ok(n) => n,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    html_response(StatusCode::OK, Cache::NoCache, render(&raw_id, &status, lang, &naming))
}

pub fn status_title(lang: Lang, status: &str) -> &'static str {
    match status {
        "SERVING" => lang.t(K::st_serving),
        "SERVED" => lang.t(K::st_served),
        "SKIPPED" => lang.t(K::st_skipped),
        "CANCELLED" => lang.t(K::st_cancelled),
        _ => lang.t(K::st_waiting),
    }
}

fn done_body(lang: Lang, status: &str) -> &'static str {
    match status {
        "SERVED" => lang.t(K::st_served_body),
        "SKIPPED" => lang.t(K::st_skipped_body),
        "CANCELLED" => lang.t(K::st_cancelled_body),
        _ => "",
    }
}

pub fn ahead_text(lang: Lang, people_ahead: Option<i32>) -> String {
    match people_ahead {
        Some(0) | None => lang.t(K::you_are_next).to_string(),
        Some(1) => lang.t(K::one_ahead).to_string(),
        Some(n) => lang.tf(K::people_ahead, &[("n", &n.to_string())]),
    }
}

pub fn eta_text(lang: Lang, s: &TokenStatus) -> String {
    match (s.people_ahead, s.eta_min_minutes, s.eta_max_minutes) {
        (Some(0), _, _) => lang.t(K::eta_soon).to_string(),
        (_, Some(lo), Some(hi)) => lang.tf(K::eta, &[("lo", &lo.to_string()), ("hi", &hi.to_string())]),
        _ => lang.t(K::nobody_serving).to_string(),
    }
}

fn render(raw_id: &str, s: &TokenStatus, lang: Lang, naming: &Naming) -> Markup {
    let label = s.token_label.as_str();
    let base = format!("/t/{raw_id}");
    let st = s.status.as_str();
    let waiting = st == "WAITING";
    let serving = st == "SERVING";
    let served = st == "SERVED";
    let state_json = serde_json::to_string(s).unwrap_or_else(|_| "{}".into());
    let live = waiting || serving;
    let closed_note = waiting && s.session_status == "CLOSED";
    let ask_feedback = served && !s.feedback_given;
    let room = s.room_name.as_deref().filter(|_| naming.room && serving);
    let thanked = served && s.feedback_given;
    // SPEC §12: stepping out and coming back, the reminder, a doctor's delay.
    let held = waiting && s.hold_state.as_deref() == Some("HELD");
    let expired = st == "SKIPPED" && s.hold_state.as_deref() == Some("EXPIRED");
    let can_hold = waiting && !held && s.hold_minutes > 0;
    let minutes = s.hold_minutes.to_string();
    let held_text =
        naming.held_until.map(|(h, m)| lang.tf(K::held_until, &[("time", &lang.clock(h, m))])).unwrap_or_default();
    let delay = s.delay_minutes.filter(|m| live && *m > 0);
    let reminders = waiting && s.reminder_position > 0;
    // Without JavaScript the page still follows the queue, more slowly.
    let head = html! {
        @if live { noscript { meta http-equiv="refresh" content="30"; } }
    };
    let body = html! {
        (language_switch(lang, &base))
        main #track .card.track .turn[serving] data-token=(raw_id) data-etag=(etag(s)) data-state=(state_json)
            data-i18n=(lang.json(SCRIPT_KEYS)) data-name-line[naming.line] data-name-room[naming.room]
            data-timezone=(naming.timezone) {
            p.clinic-name { (s.business_name) }
            section.ticket aria-live="polite" {
                p.label { (lang.t(K::your_token)) }
                p #number .number .label-long[label.chars().count() > 4] { (label) }
                p #line-name .line-name hidden[!naming.line] { (s.queue_name) }
                p #room-line .room-line hidden[room.is_none()] {
                    span #room-label { (label) } " → " span #room-name { @if let Some(r) = room { (r) } }
                }
                p #status-line .status { (status_title(lang, st)) }
            }
            div #turn .turn-banner role="alert" hidden[!serving] {
                p.big { (lang.t(K::st_serving)) }
                p #turn-room hidden[room.is_none()] {
                    @if let Some(r) = room { (lang.tf(K::go_to_room, &[("room", r)])) }
                }
                p { (lang.t(K::st_serving_body)) }
            }
            div #shift .alert role="status" hidden[!(waiting && s.overtaken_by > 0)] {
                p #shift-text {
                    @if waiting && s.overtaken_by > 0 {
                        (lang.tf(K::shift_alert, &[("n", &s.overtaken_by.to_string())]))
                    }
                }
                button #shift-ok .small type="button" { (lang.t(K::dismiss)) }
            }
            p #offline .offline role="status" hidden { (lang.t(K::offline)) }
            div #delay .alert.delay role="status" hidden[delay.is_none()] {
                p #delay-text {
                    @if let Some(m) = delay { (lang.tf(K::delay_notice, &[("minutes", &m.to_string())])) }
                }
                p #delay-note .note hidden[delay.is_none() || s.delay_note.is_none()] {
                    @if let Some(note) = &s.delay_note { (note) }
                }
            }
            section #held-box .held role="status" hidden[!held] {
                h2 { (lang.t(K::held_title)) }
                p #held-until { (held_text) }
                form #return-form method="post" action={ (base) "/return" } {
                    button #return-button .primary type="submit" { (lang.t(K::return_button)) }
                }
                p #return-error .error role="alert" hidden {}
            }
            p #returned .done role="status" hidden {}
            p #hold-expired .alert role="alert" hidden[!expired] { (lang.t(K::hold_expired)) }
            section #live-info hidden[!live] {
                dl.stats {
                    div #now-box hidden[serving] { dt { (lang.t(K::now_serving)) } dd #now-serving {
                        @match (&s.now_serving_label, s.now_serving_number) { (Some(l), _) => (l), (None, Some(n)) => (n), (None, None) => (lang.t(K::nobody_serving)) }
                    } }
                    div #position-box hidden[!waiting] { dt { (lang.t(K::position)) } dd #position {
                        @if let Some(p) = s.queue_position { (p) }
                    } }
                    div #eta-box hidden[!waiting] { dt { (lang.t(K::eta_label)) } dd #eta { (eta_text(lang, s)) } }
                }
                div #ahead-box hidden[!waiting] {
                    p #ahead .ahead { (ahead_text(lang, s.people_ahead)) }
                    label.progress-label for="progress" { (lang.t(K::progress_label)) }
                    progress #progress max="100" value=(s.progress_percent) { (s.progress_percent) "%" }
                }
                p #closed-note .note hidden[!closed_note] { (lang.t(K::intake_closed_note)) }
                p.note { (lang.t(K::keep_open)) }
            }
            p #done-body .done hidden[live || expired] { (done_body(lang, st)) }
            section #hold-box hidden[!can_hold] {
                p #hold-explain { (lang.tf(K::hold_explain, &[("minutes", &minutes)])) }
                form #hold-form method="post" action={ (base) "/hold" } {
                    button #hold-button .secondary type="submit" { (lang.t(K::hold_button)) }
                }
                p #hold-error .error role="alert" hidden {}
            }
            section #reminder-box hidden[!reminders] {
                form #reminder-form method="post" action={ (base) "/reminder" } {
                    label for="reminder-position" { (lang.t(K::reminder_label)) }
                    select #reminder-position name="position" {
                        @for n in 1..=10 {
                            option value=(n) selected[n == s.reminder_position] { (n) }
                        }
                    }
                    " "
                    button #reminder-save .secondary type="submit" { (lang.t(K::reminder_save)) }
                }
                p #reminder-status .small-print role="status" {
                    @if reminders { (lang.tf(K::reminder_saved, &[("n", &s.reminder_position.to_string())])) }
                }
            }
            section #cancel-box hidden[!waiting] {
                details #cancel {
                    summary.button.secondary { (lang.t(K::cancel_button)) }
                    div.confirm {
                        p { (lang.tf(K::cancel_confirm, &[("n", label)])) }
                        form #cancel-form method="post" action={ (base) "/cancel" } {
                            button #cancel-yes .danger type="submit" { (lang.t(K::cancel_yes)) }
                            " "
                            button #cancel-no .secondary type="button" hidden { (lang.t(K::cancel_no)) }
                        }
                        p #cancel-error .error role="alert" hidden {}
                    }
                }
            }
            section #feedback-box hidden[!ask_feedback] {
                h2 { (lang.t(K::feedback_title)) }
                form #feedback-form method="post" action={ (base) "/feedback" } {
                    fieldset.rating {
                        legend { (lang.t(K::rating_label)) }
                        @for n in 1..=5 {
                            input type="radio" name="rating" id={ "rating-" (n) } value=(n);
                            label for={ "rating-" (n) } { (n) }
                        }
                    }
                    label for="feedback-comment" { (lang.t(K::comment_label)) }
                    textarea #feedback-comment name="feedback" maxlength="1000" rows="3" {}
                    p #feedback-error .error role="alert" hidden {}
                    button #feedback-send .primary type="submit" { (lang.t(K::feedback_send)) }
                }
            }
            p #feedback-thanks .done hidden[!thanked] { (lang.t(K::feedback_thanks)) }
            p #updated .small-print {}
        }
        footer.footer { (lang.t(K::footer_note)) }
    };
    let title = format!("{} {} · {}", lang.t(K::token), label, status_title(lang, st));
    layout_with_head(lang, &title, "patient", Some(super::Asset::TrackJs), head, body)
}

fn back_to(raw_id: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/t/{raw_id}"))]).into_response()
}

/// The cancel form without JavaScript: the same call as `POST /api/v1/tokens/{id}/cancel`.
pub async fn cancel(State(app): State<AppState>, Path(raw_id): Path<String>, headers: HeaderMap) -> Response {
    let lang = Lang::choose(None, &headers, Lang::En);
    match public::cancel_token(State(app), Path(raw_id.clone())).await {
        // Already called or finished: the page shows what happened instead.
        Ok(_) | Err(ApiError::Conflict(_)) => back_to(&raw_id),
        Err(e) => PageError::new(lang, e).into_response(),
    }
}

/// "Step out" without JavaScript: the same call as `POST /api/v1/tokens/{id}/hold`.
pub async fn hold(State(app): State<AppState>, Path(raw_id): Path<String>, headers: HeaderMap) -> Response {
    let lang = Lang::choose(None, &headers, Lang::En);
    match public::hold_token(State(app), Path(raw_id.clone()), HeaderMap::new(), axum::body::Bytes::new()).await {
        // Called meanwhile, or already out: the page shows what is true now.
        Ok(_) | Err(ApiError::Conflict(_)) => back_to(&raw_id),
        Err(e) => PageError::new(lang, e).into_response(),
    }
}

/// "I'm back" without JavaScript: the same call as `POST /api/v1/tokens/{id}/return`.
pub async fn return_back(State(app): State<AppState>, Path(raw_id): Path<String>, headers: HeaderMap) -> Response {
    let lang = Lang::choose(None, &headers, Lang::En);
    match public::return_token(State(app), Path(raw_id.clone())).await {
        // Run out, or not out at all: the page says which.
        Ok(_) | Err(ApiError::Conflict(_)) => back_to(&raw_id),
        Err(e) => PageError::new(lang, e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct ReminderForm {
    pub position: Option<String>,
}

/// The reminder picker without JavaScript: the same call as `PUT /api/v1/tokens/{id}/reminder`.
pub async fn reminder(
    State(app): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ReminderForm>, FormRejection>,
) -> Response {
    let lang = Lang::choose(None, &headers, Lang::En);
    // A missing or unreadable choice is what the API refuses: 0 is outside 1–10.
    let position = form.ok().and_then(|Form(f)| f.position).and_then(|p| p.trim().parse::<i32>().ok()).unwrap_or(0);
    let body = public::ReminderRequest { position };
    match public::set_reminder(State(app), Path(raw_id.clone()), ApiJson(body)).await {
        Ok(_) | Err(ApiError::Conflict(_)) => back_to(&raw_id),
        Err(ApiError::InvalidInput(message)) => {
            message_page(lang, StatusCode::BAD_REQUEST, lang.t(K::reminder_label), &message, back_link(&raw_id, lang))
        }
        Err(e) => PageError::new(lang, e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct FeedbackForm {
    pub rating: Option<String>,
    pub feedback: Option<String>,
}

/// The feedback form without JavaScript: the same call as `POST /api/v1/tokens/{id}/feedback`.
pub async fn feedback(
    State(app): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<FeedbackForm>, FormRejection>,
) -> Response {
    let lang = Lang::choose(None, &headers, Lang::En);
    let form = form.map(|Form(f)| f).unwrap_or(FeedbackForm { rating: None, feedback: None });
    let Some(rating) = form.rating.as_deref().and_then(|r| r.trim().parse::<i32>().ok()) else {
        return message_page(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t(K::feedback_title),
            lang.t(K::feedback_pick),
            back_link(&raw_id, lang),
        );
    };
    let comment = form.feedback.filter(|c| !c.trim().is_empty());
    let body = public::Feedback { rating, feedback: comment };
    match public::feedback(State(app), Path(raw_id.clone()), ApiJson(body)).await {
        // Given twice (a double tap): the first one counts, and the page says thanks.
        Ok(_) | Err(ApiError::Conflict(_)) => back_to(&raw_id),
        Err(ApiError::InvalidInput(message)) => {
            message_page(lang, StatusCode::BAD_REQUEST, lang.t(K::feedback_title), &message, back_link(&raw_id, lang))
        }
        Err(e) => PageError::new(lang, e).into_response(),
    }
}

fn back_link(raw_id: &str, lang: Lang) -> Markup {
    html! { p { a.button href={ "/t/" (raw_id) } { (lang.t(K::back_to_form)) } } }
}
