//! Server-rendered pages: intake, live tracking, the staff dashboard, the clinic owner's
//! page and reports, the admin panel and the operator's reports, the QR code and poster, and the lobby display. HTML is rendered with maud (escaped by
//! default); each interactive page has one small script of its own under `static/`, which
//! talks to the JSON API and writes data with `textContent` only. No inline script or style
//! anywhere, so the Content-Security-Policy can forbid both.

pub mod assets;
pub mod charts;
pub mod display;
pub use crate::i18n;
pub mod intake;
pub mod kiosk;
pub mod owner;
pub mod qr;
pub mod reports;
pub mod slip;
pub mod staff;
pub mod track;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::{credential, User};
use assets::Asset;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use i18n::{Lang, K};
use maud::{html, Markup, DOCTYPE};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// Scripts and styles from our own origin only, nothing inline, no plugins, no `<base>`
/// tricks; forms post only to us.
const CSP_BASE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'";

pub fn routes() -> Router<AppState> {
    // Pages with buttons that act (cancel a token, NEXT, suspend a clinic) must never be
    // framed by another site (clickjacking).
    let strict = Router::new()
        .route("/", get(|| async { Redirect::to("/staff") }))
        .route("/c/{slug}", get(intake::page).post(intake::submit))
        .route("/c/{slug}/kiosk", get(kiosk::page).post(kiosk::join))
        .route("/c/{slug}/kiosk/open", axum::routing::post(kiosk::open))
        .route("/t/{id}", get(track::page))
        .route("/t/{id}/cancel", axum::routing::post(track::cancel))
        .route("/t/{id}/hold", axum::routing::post(track::hold))
        .route("/t/{id}/return", axum::routing::post(track::return_back))
        .route("/t/{id}/reminder", axum::routing::post(track::reminder))
        .route("/t/{id}/feedback", axum::routing::post(track::feedback))
        .route("/t/{id}/slip", get(slip::page))
        .route("/staff", get(staff::staff_page))
        .route("/admin", get(staff::admin_page))
        .route("/owner", get(owner::owner_page))
        .route("/staff/reports", get(reports::owner_reports))
        .route("/admin/reports", get(reports::admin_reports))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&format!("{CSP_BASE}; frame-ancestors 'none'")).expect("static CSP"),
        ));
    // Read-only pages a clinic may embed in its own signage or website: framing is harmless.
    let framable = Router::new()
        .route("/c/{slug}/display", get(display::page))
        .route("/c/{slug}/display.json", get(display::state))
        .route("/c/{slug}/qr.svg", get(qr::svg))
        .route("/c/{slug}/qr.png", get(qr::png))
        .route("/c/{slug}/poster", get(qr::poster))
        .route("/assets/{hash}/{name}", get(assets::serve))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP_BASE),
        ));
    strict
        .merge(framable)
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        // The tracking page must stay small on a patient's mobile data: HTML, CSS and JS
        // go out gzipped.
        .layer(CompressionLayer::new().gzip(true))
}

/// The common page frame. `class` styles the page (`patient`, `desk`, `display-page`,
/// `poster-page`); `script` is the page's own script, if it has one.
pub fn layout(lang: Lang, title: &str, class: &str, script: Option<Asset>, body: Markup) -> Markup {
    layout_with_head(lang, title, class, script, html! {}, body)
}

/// `layout` with extra elements in `<head>`.
pub fn layout_with_head(
    lang: Lang,
    title: &str,
    class: &str,
    script: Option<Asset>,
    head: Markup,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) data-locale=(lang.bcp47()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="theme-color" content="#0b6e4f";
                meta name="robots" content="noindex";
                title { (title) }
                link rel="icon" href=(assets::url(Asset::Icon)) type="image/svg+xml";
                link rel="stylesheet" href=(assets::url(Asset::Css));
                @if let Some(script) = script {
                    @for shared in script.needs() {
                        script src=(assets::url(*shared)) defer {}
                    }
                    script src=(assets::url(script)) defer {}
                }
                (head)
            }
            body class=(class) {
                (body)
            }
        }
    }
}

/// The "English | हिन्दी" switch: a plain link, so it works without JavaScript.
/// The language menu: the page in each of the patients' languages, each named in itself
/// (a link, so it works without JavaScript and the choice stays in the address).
pub fn language_switch(lang: Lang, base: &str) -> Markup {
    html! {
        nav.lang-switch aria-label=(lang.t(K::switch_language)) {
            details {
                summary { (lang.t(K::switch_language)) ": " span lang=(lang.code()) { (lang.native_name()) } }
                ul {
                    @for other in Lang::ALL {
                        li {
                            @if other == lang {
                                span aria-current="true" lang=(other.code()) { (other.native_name()) }
                            } @else {
                                a href={ (base) "?lang=" (other.code()) } lang=(other.code()) hreflang=(other.code()) { (other.native_name()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub enum Cache {
    /// Revalidate every time (patient pages: the state changes).
    NoCache,
    /// Never store (staff and operator pages).
    NoStore,
}

pub fn html_response(status: StatusCode, cache: Cache, markup: Markup) -> Response {
    let cache = match cache {
        Cache::NoCache => "no-cache",
        Cache::NoStore => "no-store",
    };
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            // The language follows Accept-Language, and the intake page the token cookie.
            (header::VARY, HeaderValue::from_static("Accept-Language, Cookie")),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// A small page with one message (not found, closed, error...).
pub fn message_page(lang: Lang, status: StatusCode, title: &str, body: &str, extra: Markup) -> Response {
    clinic_message_page(lang, status, None, title, body, extra)
}

/// A message page under a clinic's name.
pub fn clinic_message_page(
    lang: Lang,
    status: StatusCode,
    clinic_name: Option<&str>,
    title: &str,
    body: &str,
    extra: Markup,
) -> Response {
    let markup = layout(
        lang,
        title,
        "patient",
        None,
        html! {
            // A relative link: the same address, in the other language.
            (language_switch(lang, ""))
            main.card.message {
                @if let Some(name) = clinic_name { p.clinic-name { (name) } }
                h1 { (title) }
                @if !body.is_empty() { p { (body) } }
                (extra)
            }
            footer.footer { (lang.t(K::footer_note)) }
        },
    );
    html_response(status, Cache::NoCache, markup)
}

/// An API error met while rendering a page, shown as a page in the visitor's language.
pub struct PageError {
    pub lang: Lang,
    pub error: ApiError,
}

impl PageError {
    pub fn new(lang: Lang, error: impl Into<ApiError>) -> Self {
        PageError { lang, error: error.into() }
    }
}

pub fn not_found(lang: Lang) -> Response {
    message_page(lang, StatusCode::NOT_FOUND, lang.t(K::notfound_title), lang.t(K::notfound_body), html! {})
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let lang = self.lang;
        match self.error {
            ApiError::NotFound(_) => not_found(lang),
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable (page)");
                let mut r = message_page(
                    lang,
                    StatusCode::SERVICE_UNAVAILABLE,
                    lang.t(K::error_title),
                    lang.t(K::err_unavailable),
                    html! {},
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
                r
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error (page)");
                message_page(
                    lang,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    lang.t(K::error_title),
                    lang.t(K::err_generic),
                    html! {},
                )
            }
            other => {
                let (status, _) = other.status_and_code();
                message_page(lang, status, lang.t(K::error_title), &other.to_string(), html! {})
            }
        }
    }
}

/// The logged-in user of this browser, if any (cookie or bearer). A missing or expired
/// login is `None`; a database failure is an error.
pub async fn current_user(parts: &mut Parts, state: &AppState) -> Result<Option<User>, ApiError> {
    if credential(parts).is_none() {
        return Ok(None);
    }
    match User::from_request_parts(parts, state).await {
        Ok(user) => Ok(Some(user)),
        Err(ApiError::Unauthorized(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A response header that only the pages use.
pub fn set_header(response: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(name, v);
    }
}
