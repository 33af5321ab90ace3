//! `/c/{slug}`: the page behind the clinic's QR code. A plain HTML form posted to the server
//! (it works on any phone, with or without JavaScript; intake.js only guards against double
//! taps and checks the number before sending). The server calls the same
//! `http::public::create_qr_token` as the JSON API, so both apply the same rules.
//!
//! Which tokens this browser took is remembered in an HttpOnly cookie, so "this number
//! already has a token" can link to the patient's own token, and never to a token someone
//! else took for that number.

use super::i18n::{Lang, K};
use super::{clinic_message_page, html_response, language_switch, layout, message_page, not_found, Cache, PageError};
use crate::app::AppState;
use crate::error::{ApiError, Refusal};
use crate::http::extract::{cookie, ClientIp};
use crate::http::public::{create_qr_token, load_status};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

/// The cookie listing the tokens this browser took (newest first).
const MINE_COOKIE: &str = "qlink_mine";
/// How many token ids the cookie keeps.
const MINE_MAX: usize = 5;
/// A day's visit, with margin; yesterday's tokens should not greet today's patient.
const MINE_MAX_AGE_SECONDS: u32 = 18 * 3600;

#[derive(Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
}

/// The public face of a clinic, for its pages.
pub struct ClinicView {
    pub slug: String,
    pub name: String,
    pub now_serving_number: Option<i32>,
    pub waiting_count: i32,
    /// Why the clinic takes no QR tokens now (the extension's reason), None while it does.
    pub refusal_reason: Option<String>,
    pub default_language: Lang,
}

pub async fn load_clinic(app: &AppState, slug: &str) -> Result<ClinicView, ApiError> {
    let db = app.db.get().await?;
    let c = crate::sql::clinic_by_slug(&db, slug).await?;
    Ok(ClinicView {
        default_language: Lang::parse(c.default_language()).unwrap_or(Lang::En),
        slug: c.slug,
        name: c.name,
        now_serving_number: c.now_serving_number,
        waiting_count: c.waiting_count,
        refusal_reason: c.refusal_reason,
    })
}

/// The language before the clinic is known (for its 404 page).
fn early_lang(query: &LangQuery, headers: &HeaderMap) -> Lang {
    Lang::choose(query.lang.as_deref(), headers, Lang::En)
}

/// The token ids in this browser's cookie.
fn my_tokens(parts: &Parts) -> Vec<Uuid> {
    cookie(parts, MINE_COOKIE)
        .map(|v| v.split('.').filter_map(|id| Uuid::parse_str(id).ok()).take(MINE_MAX).collect())
        .unwrap_or_default()
}

/// The newest token this browser took at this clinic, with its number and status.
async fn my_token_here(app: &AppState, parts: &Parts, slug: &str) -> Option<(Uuid, i32, String)> {
    for id in my_tokens(parts) {
        if let Ok(status) = load_status(app, id).await {
            if status.business_slug == slug {
                return Some((id, status.token_number, status.status));
            }
        }
    }
    None
}

fn mine_cookie(app: &AppState, parts: &Parts, new: Uuid) -> String {
    let mut ids = vec![new];
    ids.extend(my_tokens(parts).into_iter().filter(|id| *id != new).take(MINE_MAX - 1));
    let value: Vec<String> = ids.iter().map(|id| id.simple().to_string()).collect();
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    // Only the intake pages read it: it is not sent along with every status poll.
    format!(
        "{MINE_COOKIE}={}; Path=/c/; HttpOnly; SameSite=Lax; Max-Age={MINE_MAX_AGE_SECONDS}{secure}",
        value.join(".")
    )
}

pub async fn page(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<LangQuery>,
    parts: Parts,
) -> Response {
    let clinic = match load_clinic(&app, &slug).await {
        Ok(c) => c,
        Err(e) => return PageError::new(early_lang(&query, &parts.headers), e).into_response(),
    };
    let lang = Lang::choose(query.lang.as_deref(), &parts.headers, clinic.default_language);
    if let Some(reason) = &clinic.refusal_reason {
        return refusal_page(&clinic.name, lang, reason);
    }
    let existing = my_token_here(&app, &parts, &clinic.slug)
        .await
        .filter(|(_, _, status)| status == "WAITING" || status == "SERVING");
    let form = FormState::default();
    html_response(StatusCode::OK, Cache::NoCache, form_page(&clinic, lang, &form, existing.map(|(id, n, _)| (id, n))))
}

/// The page instead of the form when the clinic takes no tokens by QR right now, by the
/// extension's reason (sql/API.md).
fn refusal_page(clinic_name: &str, lang: Lang, reason: &str) -> Response {
    let name = Some(clinic_name);
    let (status, title, body) = match reason {
        "clinic_suspended" | "clinic_disabled" => {
            (StatusCode::FORBIDDEN, lang.t(K::suspended_title), lang.t(K::suspended_body))
        }
        "daily_token_limit" => (StatusCode::OK, lang.t(K::limit_daily_title), lang.t(K::limit_daily)),
        // qr_intake_off, session_closed.
        _ => (StatusCode::OK, lang.t(K::closed_title), lang.t(K::closed_body)),
    };
    clinic_message_page(lang, status, name, title, body, html! {})
}

#[derive(Default, Deserialize)]
pub struct FormState {
    #[serde(default)]
    pub patient_name: String,
    #[serde(default)]
    pub patient_phone: String,
    #[serde(default)]
    pub language: String,
    #[serde(skip)]
    pub error: Option<String>,
}

fn form_page(clinic: &ClinicView, lang: Lang, form: &FormState, existing: Option<(Uuid, i32)>) -> Markup {
    let base = format!("/c/{}", clinic.slug);
    let strings = lang.json(&[K::err_phone, K::err_name, K::joining]);
    let body = html! {
        (language_switch(lang, &base))
        main.card.intake {
            header.clinic {
                h1 { (clinic.name) }
                p.queue-line {
                    (lang.t(K::now_serving)) ": "
                    strong { @match clinic.now_serving_number { Some(n) => (n), None => (lang.t(K::nobody_serving)) } }
                    " · " (lang.tf(K::waiting_count, &[("n", &clinic.waiting_count.to_string())]))
                }
            }
            h2 { (lang.t(K::intake_title)) }
            p.lead { (lang.t(K::intake_lead)) }
            @if let Some((id, number)) = existing {
                p.notice {
                    (lang.tf(K::existing_token, &[("n", &number.to_string())])) " "
                    a href={ "/t/" (id) } { (lang.t(K::track_my_token)) }
                }
            }
            p #form-error .error role="alert" hidden[form.error.is_none()] {
                @if let Some(e) = &form.error { (e) }
            }
            form #intake method="post" action=(base) data-i18n=(strings) {
                label for="patient_name" { (lang.t(K::name_label)) }
                input #patient_name name="patient_name" type="text" autocomplete="name" required maxlength="80"
                    value=(form.patient_name);
                label for="patient_phone" { (lang.t(K::phone_label)) }
                input #patient_phone name="patient_phone" type="tel" inputmode="tel" autocomplete="tel" required
                    maxlength="20" placeholder=(lang.t(K::phone_hint)) value=(form.patient_phone);
                input type="hidden" name="language" value=(lang.code());
                p.consent { (lang.t(K::consent)) }
                button #join .primary type="submit" { (lang.t(K::join_button)) }
            }
        }
        footer.footer { (lang.t(K::footer_note)) }
    };
    layout(
        lang,
        &format!("{} · {}", lang.t(K::intake_title), clinic.name),
        "patient",
        Some(super::Asset::IntakeJs),
        body,
    )
}

pub async fn submit(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    parts: Parts,
    form: Result<Form<FormState>, FormRejection>,
) -> Response {
    // A malformed body is treated as an empty form: the patient sees the form again.
    let mut form = form.map(|Form(f)| f).unwrap_or_default();
    let query = LangQuery { lang: Some(form.language.clone()).filter(|l| Lang::parse(l).is_some()) };
    let lang = early_lang(&query, &parts.headers);
    // As in the JSON API: the patient's choice, else the browser's, else the clinic's default.
    let language = Lang::parse(&form.language)
        .map(|l| l.code().to_string())
        .or_else(|| crate::http::public::language_from_headers(&parts.headers));
    match create_qr_token(&app, &slug, &form.patient_name, &form.patient_phone, ip, language).await {
        Ok(created) => {
            let mut response =
                (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/t/{}", created.token_id))]).into_response();
            let cookie = mine_cookie(&app, &parts, created.token_id);
            super::set_header(&mut response, header::SET_COOKIE, &cookie);
            response
        }
        Err(ApiError::NotFound(_)) => not_found(lang),
        Err(ApiError::InvalidInput(refusal)) => {
            let clinic = match load_clinic(&app, &slug).await {
                Ok(c) => c,
                Err(e) => return PageError::new(lang, e).into_response(),
            };
            // The extension's messages are English for the receptionist; the patient gets
            // the same advice in their language.
            form.error = Some(match refusal.reason.as_deref() {
                Some("invalid_phone") => lang.t(K::err_phone).to_string(),
                Some("invalid_name") => lang.t(K::err_name).to_string(),
                _ => refusal.message,
            });
            html_response(StatusCode::BAD_REQUEST, Cache::NoCache, form_page(&clinic, lang, &form, None))
        }
        Err(ApiError::Forbidden(refusal)) => match refusal.reason.as_deref() {
            Some(reason) => match load_clinic(&app, &slug).await {
                Ok(clinic) => refusal_page(&clinic.name, lang, reason),
                Err(e) => PageError::new(lang, e).into_response(),
            },
            None => message_page(lang, StatusCode::FORBIDDEN, lang.t(K::closed_title), &refusal, html! {}),
        },
        Err(ApiError::RateLimited(refusal)) => limit_page(&app, &parts, &slug, lang, &refusal).await,
        Err(e) => PageError::new(lang, e).into_response(),
    }
}

/// A limit was reached. Which one is told by the extension's reason (SQLSTATE 54000 is
/// shared by the three intake limits); a refusal without a known reason is shown as it is.
async fn limit_page(app: &AppState, parts: &Parts, slug: &str, lang: Lang, refusal: &Refusal) -> Response {
    let back = html! { p { a.button href={ "/c/" (slug) "?lang=" (lang.code()) } { (lang.t(K::back_to_form)) } } };
    if refusal.reason.as_deref() == Some("phone_limit") {
        // Only a token this very browser took is linked: typing someone else's number
        // must never reveal their token.
        let mine = my_token_here(app, parts, slug).await.filter(|(_, _, status)| status != "CANCELLED");
        let extra = html! {
            @if let Some((id, number, _)) = mine {
                p.notice {
                    (lang.tf(K::already_yours, &[("n", &number.to_string())])) " "
                    a href={ "/t/" (id) } { (lang.t(K::track_my_token)) }
                }
            } @else {
                p { (lang.t(K::already_lost)) }
            }
            (back)
        };
        return message_page(lang, StatusCode::TOO_MANY_REQUESTS, lang.t(K::already_title), "", extra);
    }
    let (title, body) = match refusal.reason.as_deref() {
        Some("ip_limit") => (lang.t(K::limit_title), lang.t(K::limit_network).to_string()),
        Some("daily_token_limit") => (lang.t(K::limit_daily_title), lang.t(K::limit_daily).to_string()),
        _ => (lang.t(K::limit_title), refusal.message.clone()),
    };
    message_page(lang, StatusCode::TOO_MANY_REQUESTS, title, &body, back)
}
