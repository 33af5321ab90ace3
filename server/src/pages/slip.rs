//! `/t/{token_id}/slip`: the printed token slip, for a patient without a smartphone (the
//! desk prints one for a walk-in, the kiosk after each join). Clinic, doctor (line) and
//! room, the label in large type, when the patient joined, the people ahead and the ETA
//! range at that moment, and the tracking link as a QR code a family member's phone can
//! follow; in the patient's language. Laid out for 58 mm and 80 mm thermal receipt printers
//! and for A6 (`?paper=58|80|a6`, default 80), printed by the browser (print CSS: no driver
//! work). `?print=1` opens the print dialog at once. `?kiosk=1` (after a join at the clinic's
//! kiosk) also tells the patient to take the slip and goes back to the kiosk's blank form
//! by itself, printed or not: a printer that never answers cannot hold the kiosk.

use super::i18n::{Lang, K};
use super::qr::inline_svg;
use super::{html_response, layout, not_found, Asset, Cache, PageError};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::path_uuid;
use crate::http::public::{load_status, TokenStatus};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use qrcode::{EcLevel, QrCode};
use serde::Deserialize;

/// The paper a slip is laid out for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paper {
    Roll58,
    Roll80,
    A6,
}

impl Paper {
    fn parse(raw: Option<&str>) -> Option<Paper> {
        match raw.map(str::trim).unwrap_or("80") {
            "58" => Some(Paper::Roll58),
            "80" | "" => Some(Paper::Roll80),
            "a6" | "A6" => Some(Paper::A6),
            _ => None,
        }
    }

    /// The page's class: the stylesheet sets the printed page (`@page`) and the width.
    fn class(self) -> &'static str {
        match self {
            Paper::Roll58 => "slip-page slip-58",
            Paper::Roll80 => "slip-page slip-80",
            Paper::A6 => "slip-page slip-a6",
        }
    }

    /// The QR code's side in CSS pixels (about 34, 45 and 55 mm): modules of 0.5 mm and
    /// more, which an 8-dot/mm thermal head prints sharp and a phone reads at arm's length.
    fn qr_pixels(self) -> u32 {
        match self {
            Paper::Roll58 => 130,
            Paper::Roll80 => 170,
            Paper::A6 => 210,
        }
    }
}

#[derive(Deserialize, Default)]
pub struct SlipQuery {
    pub paper: Option<String>,
    pub print: Option<String>,
    pub lang: Option<String>,
    pub kiosk: Option<String>,
}

/// Seconds the kiosk shows a printed slip before its blank form comes back.
const KIOSK_SLIP_SECONDS: u32 = 10;

/// What a slip says besides the token's status.
struct Facts {
    joined: (u32, u32),
    /// The line (doctor), when the clinic has several.
    line: Option<String>,
    /// The room: the one that called the patient, else the only active room calling from
    /// the patient's line, when the clinic has several rooms.
    room: Option<String>,
    url: String,
}

async fn facts(app: &AppState, id: uuid::Uuid, status: &TokenStatus) -> Result<Facts, ApiError> {
    // What the tracking page names, by the same rule.
    let naming = super::track::naming(app, status).await?;
    let room = match (&status.room_name, naming.calling_rooms.as_slice()) {
        _ if !naming.room => None,
        (Some(called), _) => Some(called.clone()),
        (None, [only]) => Some(only.clone()),
        _ => None,
    };
    let db = app.db.get().await?;
    Ok(Facts {
        joined: crate::sql::clock_in(&db, status.joined_at, &naming.timezone).await?,
        line: naming.line.then(|| status.queue_name.clone()),
        room,
        url: format!("{}/t/{id}", app.public_url),
    })
}

pub async fn page(
    State(app): State<AppState>,
    Path(raw_id): Path<String>,
    Query(query): Query<SlipQuery>,
    headers: HeaderMap,
) -> Response {
    let asked = query.lang.as_deref().and_then(Lang::parse);
    let fallback = asked.unwrap_or_else(|| Lang::choose(None, &headers, Lang::En));
    let Ok(id) = path_uuid(&raw_id) else {
        return not_found(fallback);
    };
    let Some(paper) = Paper::parse(query.paper.as_deref()) else {
        return PageError::new(fallback, ApiError::InvalidInput("paper is 58, 80 or a6.".into())).into_response();
    };
    let status = match load_status(&app, id).await {
        Ok(s) => s,
        Err(e) => return PageError::new(fallback, e).into_response(),
    };
    let lang = asked.or_else(|| Lang::parse(&status.language)).unwrap_or(fallback);
    let facts = match facts(&app, id, &status).await {
        Ok(f) => f,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    let code = match QrCode::with_error_correction_level(facts.url.as_bytes(), EcLevel::M) {
        Ok(c) => c,
        Err(e) => return PageError::new(lang, ApiError::Internal(anyhow::anyhow!("slip QR: {e}"))).into_response(),
    };
    let print = query.print.as_deref() == Some("1");
    // Back to the token's own clinic's kiosk (the address is ours, never the query's), in
    // the clinic's language: the next patient is somebody else.
    let kiosk = (query.kiosk.as_deref() == Some("1")).then(|| format!("/c/{}/kiosk", status.business_slug));
    html_response(StatusCode::OK, Cache::NoStore, render(&status, &facts, &code, paper, print, kiosk.as_deref(), lang))
}

fn render(
    s: &TokenStatus,
    facts: &Facts,
    code: &QrCode,
    paper: Paper,
    print: bool,
    kiosk: Option<&str>,
    lang: Lang,
) -> Markup {
    let waiting = s.status == "WAITING";
    // The same words as the tracking page at this moment.
    let ahead = super::track::ahead_text(lang, s.people_ahead);
    let eta = super::track::eta_text(lang, s);
    let (hour, minute) = facts.joined;
    let body = html! {
        @if let Some(back) = kiosk {
            div #kiosk-done .kiosk-done .no-print data-return=(back) data-return-seconds=(KIOSK_SLIP_SECONDS) {
                p.kiosk-take { (lang.t(K::kiosk_take_slip)) }
                a #kiosk-next .button.primary href=(back) { (lang.t(K::kiosk_next)) }
            }
        }
        main #slip .slip data-print=(if print { "1" } else { "0" }) {
            p #slip-clinic .slip-clinic { (s.business_name) }
            @if let Some(line) = &facts.line { p #slip-line .slip-line { (line) } }
            @if let Some(room) = &facts.room { p #slip-room .slip-room { (lang.tf(K::slip_room, &[("room", room)])) } }
            p.slip-caption { (lang.t(K::your_token)) }
            p #slip-label .slip-label { (s.token_label) }
            p #slip-joined .slip-joined { (lang.tf(K::slip_joined, &[("time", &lang.clock(hour, minute))])) }
            @if waiting {
                p #slip-ahead .slip-ahead { (ahead) }
                p #slip-eta .slip-eta { (lang.t(K::eta_label)) ": " (eta) }
            } @else {
                p #slip-status .slip-ahead { (super::track::status_title(lang, &s.status)) }
            }
            // Generated by the qrcode crate from the token's URL alone (no user text).
            div #slip-qr .slip-qr { (PreEscaped(inline_svg(code, paper.qr_pixels()))) }
            p #slip-scan .slip-scan { (lang.t(K::slip_scan)) }
            p #slip-url .slip-url { (facts.url) }
            @if kiosk.is_none() {
                button #slip-print .primary.no-print type="button" hidden { (lang.t(K::slip_print)) }
            }
        }
    };
    let title = format!("{} {} · {}", lang.t(K::token), s.token_label, s.business_name);
    layout(lang, &title, paper.class(), Some(Asset::SlipJs), body)
}
