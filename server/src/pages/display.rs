//! `/c/{slug}/display`: the lobby screen (a TV or a spare tablet facing the waiting room).
//! Token numbers only, never names: its data comes from `/c/{slug}/display.json`, which is
//! `qlink.display_state`, a function that returns numbers alone. display.js chimes and speaks each
//! newly called number, one call-out at a time.

use super::assets::Asset;
use super::i18n::{Lang, K};
use super::intake::load_clinic;
use super::{html_response, layout, Cache, PageError};
use crate::app::AppState;
use crate::error::ApiResult;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::html;
use serde::{Deserialize, Serialize};

/// How many upcoming numbers the lobby shows.
const NEXT_SHOWN: i32 = 6;

#[derive(Deserialize)]
pub struct DisplayQuery {
    /// `en` or `hi`: labels and call-outs in that language only. Default: both, since a
    /// waiting room holds both kinds of reader.
    pub lang: Option<String>,
}

pub async fn page(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<DisplayQuery>,
    headers: HeaderMap,
) -> Response {
    let only = query.lang.as_deref().and_then(Lang::parse);
    let clinic = match load_clinic(&app, &slug).await {
        Ok(c) => c,
        Err(e) => return PageError::new(Lang::choose(query.lang.as_deref(), &headers, Lang::En), e).into_response(),
    };
    let langs: Vec<Lang> = match only {
        Some(l) => vec![l],
        None => vec![Lang::En, Lang::Hi],
    };
    let first = langs[0];
    // Each label in every shown language, the first one larger.
    let label = |key: K| {
        html! {
            @for (i, l) in langs.iter().enumerate() {
                span lang=(l.code()) class=(if i == 0 { "primary" } else { "secondary" }) { (l.t(key)) }
            }
        }
    };
    let callouts: Vec<serde_json::Value> =
        langs.iter().map(|l| serde_json::json!({"lang": l.code(), "text": l.t(K::callout)})).collect();
    let body = html! {
        main #display .display data-slug=(clinic.slug) data-callouts=(serde_json::Value::from(callouts).to_string()) {
            header.display-head {
                h1 #clinic-name { (clinic.name) }
                button #sound-on .secondary type="button" { (label(K::display_sound_on)) }
            }
            section.display-now {
                p.label { (label(K::now_serving)) }
                p #now .huge-number aria-live="assertive" {
                    @match clinic.now_serving_number { Some(n) => (n), None => "—" }
                }
            }
            section.display-next {
                p.label { (label(K::display_next)) }
                ol #next-list .next-numbers {}
                p #next-empty .empty { (label(K::display_none_waiting)) }
            }
            aside.display-join {
                img src={ "/c/" (clinic.slug) "/qr.svg" } alt="" width="160" height="160";
                p { (label(K::display_scan)) }
            }
        }
    };
    let markup = layout(
        first,
        &format!("{} · {}", first.t(K::now_serving), clinic.name),
        "display-page",
        Some(Asset::DisplayJs),
        body,
    );
    html_response(StatusCode::OK, Cache::NoCache, markup)
}

#[derive(Serialize)]
pub struct DisplayState {
    pub clinic_name: String,
    pub now_serving_number: Option<i32>,
    /// The next numbers in call order. Numbers only: this endpoint is public.
    pub next_numbers: Vec<i32>,
    pub waiting_count: i32,
    pub accepting_tokens: bool,
}

pub async fn state(State(app): State<AppState>, Path(slug): Path<String>) -> ApiResult<Response> {
    let db = app.db.get().await?;
    let d = crate::sql::display_state_by_slug(&db, &slug, NEXT_SHOWN).await?;
    let body = DisplayState {
        clinic_name: d.clinic_name,
        now_serving_number: d.now_serving_number,
        next_numbers: d.next_numbers,
        waiting_count: d.waiting_count,
        accepting_tokens: d.accepting_tokens,
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
