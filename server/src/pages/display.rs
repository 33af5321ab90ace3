//! `/c/{slug}/display`: the lobby screen (a TV or a spare tablet facing the waiting room).
//! Token numbers and labels only, never names: its data comes from `/c/{slug}/display.json`,
//! which is `qlink.display_state`, a function that returns numbers, labels and room names
//! alone. display.js chimes and speaks each newly called token ("Token A-12, Room 2" in a
//! clinic with several rooms), one call-out at a time.
//!
//! `?room=ID` shows one room only (a screen outside that room's door). A clinic with one
//! line and one room sees exactly the 0.1 screen and the 0.1 JSON.

use super::assets::Asset;
use super::i18n::{Lang, K};
use super::{html_response, layout, Cache, PageError};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::path_uuid;
use crate::sql::DisplayLine;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::html;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How many upcoming numbers the lobby shows.
const NEXT_SHOWN: i32 = 6;

#[derive(Deserialize)]
pub struct DisplayQuery {
    /// One language (`en`, `hi`, `ta`, …): labels and call-outs in that language only.
    /// Default: the clinic's `display_languages`, since a waiting room holds readers of
    /// several.
    pub lang: Option<String>,
    /// One room only.
    pub room: Option<String>,
}

/// The room of `?room=`: a malformed id is the same 404 as an unknown one.
fn room_of(query: &DisplayQuery) -> Result<Option<Uuid>, ApiError> {
    match query.room.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(raw) => path_uuid(raw).map(Some),
        None => Ok(None),
    }
}

/// One room on the lobby screen.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct DisplayRoom {
    pub room_id: Uuid,
    pub room_name: String,
    /// The label it is serving (`A-12`), None while free.
    pub serving_label: Option<String>,
}

#[derive(Serialize)]
pub struct DisplayState {
    pub clinic_name: String,
    pub now_serving_number: Option<i32>,
    /// The next numbers in call order. Numbers only: this endpoint is public.
    pub next_numbers: Vec<i32>,
    pub waiting_count: i32,
    pub accepting_tokens: bool,
    /// The latest called label; with the two below, only for a clinic whose screen shows
    /// more than 0.1's (several rooms, a room asked for, or labels with a prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<DisplayRoom>>,
    /// Each line with the rooms calling from it and its waiting labels, for a patient
    /// holding a printed slip; only where there is more than one line or room (or a room
    /// was asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<DisplayLine>>,
    /// Labels of the patients who stepped out (SPEC §12): NEXT passes over them, so they
    /// are not among the next; the screen shows them apart.
    pub away_labels: Vec<String>,
}

async fn load(app: &AppState, slug: &str, room: Option<Uuid>) -> ApiResult<(DisplayState, Vec<Lang>)> {
    let db = app.db.get().await?;
    let d = crate::sql::display_state_by_slug_in_room(&db, slug, NEXT_SHOWN, room).await?;
    let languages: Vec<Lang> = d.display_languages.iter().filter_map(|c| Lang::parse(c)).collect();
    let rooms: Vec<DisplayRoom> = d
        .rooms
        .iter()
        .map(|r| DisplayRoom {
            room_id: r.room_id,
            room_name: r.room_name.clone(),
            serving_label: r.serving_label.clone(),
        })
        .collect();
    let plain_labels = d.next_labels.iter().zip(&d.next_numbers).all(|(l, n)| *l == n.to_string())
        && d.serving_label.as_deref() == d.now_serving_number.map(|n| n.to_string()).as_deref();
    let several = room.is_some() || rooms.len() > 1 || d.lines.len() > 1;
    let more = several || !plain_labels;
    let state = DisplayState {
        clinic_name: d.clinic_name,
        now_serving_number: d.now_serving_number,
        next_numbers: d.next_numbers,
        waiting_count: d.waiting_count,
        accepting_tokens: d.accepting_tokens,
        serving_label: if more { d.serving_label } else { None },
        next_labels: more.then_some(d.next_labels),
        rooms: more.then_some(rooms),
        lines: several.then_some(d.lines),
        away_labels: d.away_labels,
    };
    Ok((state, languages))
}

pub async fn page(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<DisplayQuery>,
    headers: HeaderMap,
) -> Response {
    let only = query.lang.as_deref().and_then(Lang::parse);
    let early = Lang::choose(query.lang.as_deref(), &headers, Lang::En);
    let state = match room_of(&query) {
        Ok(room) => load(&app, &slug, room).await.map(|s| (room, s)),
        Err(e) => Err(e),
    };
    let (room, (d, clinic_languages)) = match state {
        Ok(s) => s,
        Err(e) => return PageError::new(early, e).into_response(),
    };
    let langs: Vec<Lang> = match only {
        Some(l) => vec![l],
        None if clinic_languages.is_empty() => vec![Lang::En, Lang::Hi],
        None => clinic_languages,
    };
    let first = langs[0];
    // Each label in the first language, large, and under it the others: with two, both
    // always; with more, one at a time, in turn (display.js rotates `data-rotate`).
    let rotating = langs.len() > 2;
    let label = |key: K| {
        html! {
            @for (i, l) in langs.iter().enumerate() {
                @if i == 0 {
                    span lang=(l.code()) class="primary" { (l.t(key)) }
                } @else if rotating {
                    span lang=(l.code()) class="secondary" data-rotate=(i - 1) hidden[i > 1] { (l.t(key)) }
                } @else {
                    span lang=(l.code()) class="secondary" { (l.t(key)) }
                }
            }
        }
    };
    // Every call is spoken in each language, in the clinic's order, with the voice for
    // the language's Indian tag.
    let callouts: Vec<serde_json::Value> = langs
        .iter()
        .map(|l| {
            serde_json::json!({"lang": l.code(), "tag": l.bcp47(), "text": l.t(K::callout), "room_text": l.t(K::callout_room)})
        })
        .collect();
    let rooms = d.rooms.clone().unwrap_or_default();
    let show_rooms = d.rooms.is_some() && (room.is_some() || rooms.len() > 1);
    // The room that called the label on the big number (the latest call).
    let now_room = d
        .serving_label
        .as_ref()
        .and_then(|l| rooms.iter().find(|r| r.serving_label.as_ref() == Some(l)))
        .filter(|_| show_rooms)
        .map(|r| r.room_name.clone());
    let now_text = d.serving_label.clone().or_else(|| d.now_serving_number.map(|n| n.to_string()));
    let next: Vec<String> = match &d.next_labels {
        Some(labels) => labels.clone(),
        None => d.next_numbers.iter().map(|n| n.to_string()).collect(),
    };
    let data = serde_json::to_string(&d).unwrap_or_else(|_| "{}".into());
    let slug = slug.trim().to_ascii_lowercase();
    let body = html! {
        main #display .display data-slug=(slug) data-room=[room.map(|r| r.to_string())] data-state=(data)
            data-callouts=(serde_json::Value::from(callouts).to_string())
            data-rotations=[rotating.then(|| langs.len() - 1)] {
            header.display-head {
                h1 #clinic-name { (d.clinic_name) }
                button #sound-on .secondary type="button" { (label(K::display_sound_on)) }
            }
            section.display-now {
                p.label { (label(K::now_serving)) }
                p #now .huge-number .labels[d.serving_label.is_some()] aria-live="assertive" {
                    @match &now_text { Some(n) => (n), None => "—" }
                }
                p #now-room .now-room hidden[now_room.is_none()] { @if let Some(r) = &now_room { "→ " (r) } }
                p #call-text .call-text role="status" hidden {}
            }
            @if show_rooms {
                section.display-rooms {
                    p.label { (label(K::display_rooms)) }
                    ul #rooms .rooms data-idle=(first.t(K::display_room_idle)) {
                        @for r in &rooms {
                            li data-room-id=(r.room_id) {
                                span.room-name { (r.room_name) }
                                span.room-label {
                                    @match &r.serving_label { Some(l) => (l), None => (first.t(K::display_room_idle)) }
                                }
                            }
                        }
                    }
                }
            }
            section.display-next {
                p.label { (label(K::display_next)) }
                ol #next-list .next-numbers {
                    @for n in &next { li { (n) } }
                }
                p #next-empty .empty hidden[!next.is_empty()] { (label(K::display_none_waiting)) }
            }
            @if let Some(lines) = &d.lines {
                section.display-lines {
                    p.label { (label(K::display_waiting)) }
                    ul #line-board .line-board data-none=(first.t(K::display_none_waiting)) {
                        @for l in lines {
                            li.line-column data-queue-id=(l.queue_id) {
                                p.line-head {
                                    span.line-name { (l.queue_name) }
                                    @if !l.rooms.is_empty() { span.line-rooms { "→ " (l.rooms.join(" / ")) } }
                                }
                                @if l.waiting_labels.is_empty() {
                                    p.line-empty { (first.t(K::display_none_waiting)) }
                                } @else {
                                    ol.line-waiting { @for w in &l.waiting_labels { li { (w) } } }
                                }
                            }
                        }
                    }
                }
            }
            section #away .display-away hidden[d.away_labels.is_empty()] {
                p.label { (label(K::display_away)) }
                ul #away-list .away-labels {
                    @for l in &d.away_labels { li { (l) } }
                }
            }
            aside.display-join {
                img src={ "/c/" (slug) "/qr.svg" } alt="" width="160" height="160";
                p { (label(K::display_scan)) }
            }
        }
    };
    let markup = layout(
        first,
        &format!("{} · {}", first.t(K::now_serving), d.clinic_name),
        "display-page",
        Some(Asset::DisplayJs),
        body,
    );
    html_response(StatusCode::OK, Cache::NoCache, markup)
}

pub async fn state(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<DisplayQuery>,
) -> ApiResult<Response> {
    let (body, _) = load(&app, &slug, room_of(&query)?).await?;
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
