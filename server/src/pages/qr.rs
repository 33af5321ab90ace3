//! The clinic's QR code (SVG for print, PNG for sharing) and the printable A4 poster. The
//! code encodes the intake page `{QLINK_PUBLIC_URL}/c/{slug}`; with `?queue=ID` (a clinic
//! with several doctors: one poster per door) it encodes `/c/{slug}?queue=ID`, which opens
//! the intake page with that line picked, and the poster names the line. The poster also
//! tells patients to join on WhatsApp (a link, and the words to send, for a printed page)
//! and how to stop the clinic's messages.

use super::i18n::{Lang, K};
use super::intake::load_clinic;
use super::{html_response, layout, Cache, PageError};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, PreEscaped};
use qrcode::{EcLevel, QrCode};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize, Default)]
pub struct QrQuery {
    /// One line of the clinic.
    pub queue: Option<String>,
}

/// Pixels per module in the PNG: about 4 cm across at 300 dpi for a typical URL.
const PNG_SCALE: usize = 12;
/// The quiet zone the QR standard asks for, in modules.
const QUIET: usize = 4;
/// The code only changes if the clinic's slug or the public URL does.
const QR_CACHE: &str = "public, max-age=3600";

pub fn intake_url(app: &AppState, slug: &str) -> String {
    format!("{}/c/{}", app.public_url, slug)
}

/// The line of `?queue=`, which must be one of the clinic's: its id, name and prefix.
async fn line_for(
    app: &AppState,
    clinic: &super::intake::ClinicView,
    query: &QrQuery,
) -> ApiResult<Option<(Uuid, String, String)>> {
    let Some(raw) = query.queue.as_deref().map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    let id = crate::http::extract::path_uuid(raw)?;
    let db = app.db.get().await?;
    let lines = crate::sql::list_queues(&db, clinic.business_id).await?;
    let line = lines.into_iter().find(|l| l.queue_id == id).ok_or_else(ApiError::not_found)?;
    Ok(Some((line.queue_id, line.name, line.prefix)))
}

/// The code for a clinic that exists (an unknown slug is a 404, not a code to nowhere),
/// and the line it names, if any.
async fn code_for(
    app: &AppState,
    slug: &str,
    query: &QrQuery,
) -> ApiResult<(QrCode, String, Option<(String, String)>)> {
    let clinic = load_clinic(app, slug).await?;
    let line = line_for(app, &clinic, query).await?;
    let url = match &line {
        Some((id, _, _)) => format!("{}?queue={id}", intake_url(app, &clinic.slug)),
        None => intake_url(app, &clinic.slug),
    };
    // Level M survives a smudge or a fold in a printed poster and keeps modules large.
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("QR code for {url}: {e}")))?;
    Ok((code, url, line.map(|(_, name, prefix)| (name, prefix))))
}

pub fn svg_markup(code: &QrCode, size: u32) -> String {
    code.render::<qrcode::render::svg::Color>()
        .min_dimensions(size, size)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build()
}

/// The SVG for embedding in a page: without the XML declaration, labelled for screen readers.
pub fn inline_svg(code: &QrCode, size: u32) -> String {
    let svg = svg_markup(code, size);
    let svg = svg.split_once("?>").map(|(_, rest)| rest.to_string()).unwrap_or(svg);
    svg.replacen("<svg ", "<svg role=\"img\" aria-label=\"QR code\" ", 1)
}

pub async fn svg(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<QrQuery>,
    headers: HeaderMap,
) -> Response {
    match code_for(&app, &slug, &query).await {
        Ok((code, _, _)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
                (header::CACHE_CONTROL, HeaderValue::from_static(QR_CACHE)),
            ],
            svg_markup(&code, 320),
        )
            .into_response(),
        Err(e) => PageError::new(Lang::choose(None, &headers, Lang::En), e).into_response(),
    }
}

/// An 8-bit greyscale PNG, black modules on white with the quiet zone.
pub fn png_bytes(code: &QrCode) -> Result<Vec<u8>, png::EncodingError> {
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for y in 0..modules {
        for x in 0..modules {
            if colors[y * modules + x] == qrcode::Color::Dark {
                for dy in 0..PNG_SCALE {
                    let row = ((y + QUIET) * PNG_SCALE + dy) * side;
                    let start = row + (x + QUIET) * PNG_SCALE;
                    pixels[start..start + PNG_SCALE].fill(0);
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
    }
    Ok(out)
}

pub async fn png(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<QrQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::choose(None, &headers, Lang::En);
    let (code, _, _) = match code_for(&app, &slug, &query).await {
        Ok(c) => c,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    match png_bytes(&code) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
                (header::CACHE_CONTROL, HeaderValue::from_static(QR_CACHE)),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => PageError::new(lang, ApiError::Internal(anyhow::anyhow!("encoding the QR PNG: {e}"))).into_response(),
    }
}

/// The A4 poster for the clinic's door and reception desk, English and Hindi together.
pub async fn poster(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<QrQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::choose(None, &headers, Lang::En);
    let (clinic, (code, url, line)) = match load_clinic(&app, &slug).await {
        Ok(clinic) => match code_for(&app, &clinic.slug, &query).await {
            Ok(c) => (clinic, c),
            Err(e) => return PageError::new(lang, e).into_response(),
        },
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    let join = super::intake::whatsapp_join(&app, &clinic, line.as_ref().map(|(_, prefix)| prefix.as_str())).await;
    let both = |key: K| {
        html! {
            span.en lang="en" { (Lang::En.t(key)) }
            span.hi lang="hi" { (Lang::Hi.t(key)) }
        }
    };
    let body = html! {
        p.print-hint { "Print on A4 paper (Ctrl+P / ⌘P). Only the poster is printed." }
        article.poster {
            h1 { (clinic.name) }
            @if let Some((line, _)) = &line {
                p.poster-line {
                    span.en lang="en" { (Lang::En.tf(K::poster_line, &[("line", line)])) }
                    span.hi lang="hi" { (Lang::Hi.tf(K::poster_line, &[("line", line)])) }
                }
            }
            p.poster-title { (both(K::poster_title)) }
            // Inline SVG: generated by the qrcode crate from the URL alone (no user text in
            // it), so it is safe to embed unescaped and prints sharp at any size.
            div.poster-qr { (PreEscaped(inline_svg(&code, 400))) }
            p.poster-url { (url) }
            ol.steps {
                li { (both(K::poster_step1)) }
                li { (both(K::poster_step2)) }
                li { (both(K::poster_step3)) }
            }
            @if let Some(join) = &join {
                p.poster-whatsapp {
                    @for lang in [Lang::En, Lang::Hi] {
                        span class=(lang.code()) lang=(lang.code()) {
                            (lang.tf(K::poster_whatsapp, &[("code", join.code.as_str()), ("number", join.number.as_str())]))
                        }
                    }
                    a.poster-wa-link href=(join.link) { (join.link) }
                }
            }
            p.poster-stop { (both(K::stop_whatsapp)) }
            p.poster-foot { (both(K::poster_no_phone)) }
        }
    };
    html_response(
        StatusCode::OK,
        Cache::NoCache,
        layout(Lang::En, &format!("QR poster · {}", clinic.name), "poster-page", None, body),
    )
}
