//! `/c/{slug}/kiosk`: the intake page on a tablet at the clinic's door, for patients without
//! a phone of their own. A staff member signs in on the tablet once (`POST
//! /c/{slug}/kiosk/open`, checked by `qlink.open_kiosk`); the tablet then holds only the
//! kiosk's secret, in an HttpOnly cookie sent to the kiosk's own pages, and any staff login
//! it held is ended, so the patients using it can reach no staff page. A kiosk takes tokens
//! for its clinic only (`qlink.kiosk_create_token`): large touch targets, the doctor's line
//! when there are several, the mobile number optional; after each join the patient's slip
//! prints (`/t/{id}/slip?kiosk=1`) and the page goes back to a blank form by itself, whether
//! or not the printer answered.
//!
//! Limits: the kiosk's own window (`kiosk_tokens_per_10min`) instead of the address's, since
//! everybody at the door shares the kiosk's address.

use super::i18n::{Lang, D, K};
use super::intake::{
    clinic_header, form_error, line_picker, load_clinic, load_lines, refusal_reasons, ClinicView, FormState,
};
use super::{html_response, language_switch, layout, Asset, Cache, PageError};
use crate::accounts;
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::{cookie, credential, from_another_site, ClientIp, Credential};
use crate::sql::{KioskOpened, KioskSession, QueueLine};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

/// The cookie that makes a browser a kiosk.
const KIOSK_COOKIE: &str = "qlink_kiosk";
/// The longest a kiosk stays signed in (`qlink.open_kiosk` takes up to 7 days).
const KIOSK_TTL_MAX: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// Seconds a message (a refusal, a limit) stays before the kiosk goes back to the form.
pub const MESSAGE_SECONDS: u32 = 12;

#[derive(Deserialize, Default)]
pub struct KioskQuery {
    pub lang: Option<String>,
}

fn base(slug: &str) -> String {
    format!("/c/{slug}/kiosk")
}

fn kiosk_cookie(app: &AppState, slug: &str, value: &str, max_age: u64) -> String {
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    format!("{KIOSK_COOKIE}={value}; Path={}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", base(slug))
}

/// The open kiosk this browser is, if any; and whether it holds a kiosk cookie at all (a
/// kiosk whose sign-in ended says so).
async fn this_kiosk(app: &AppState, parts: &Parts) -> Result<(Option<KioskSession>, bool), ApiError> {
    let Some(secret) = cookie(parts, KIOSK_COOKIE) else { return Ok((None, false)) };
    let db = app.db.get().await?;
    Ok((crate::sql::kiosk_session(&db, &accounts::session_digest(&secret)).await?, true))
}

fn page_lang(query_lang: Option<&str>, parts: &Parts, fallback: Lang) -> Lang {
    Lang::choose(query_lang, &parts.headers, fallback)
}

/// Every kiosk page: the kiosk's stylesheet class and script.
fn kiosk_layout(lang: Lang, title: &str, body: Markup) -> Markup {
    layout(lang, title, "patient kiosk", Some(Asset::IntakeJs), body)
}

pub async fn page(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<KioskQuery>,
    parts: Parts,
) -> Response {
    let early = page_lang(query.lang.as_deref(), &parts, Lang::En);
    let clinic = match load_clinic(&app, &slug).await {
        Ok(c) => c,
        Err(e) => return PageError::new(early, e).into_response(),
    };
    let lang = page_lang(query.lang.as_deref(), &parts, clinic.default_language);
    let kiosk = match this_kiosk(&app, &parts).await {
        Ok(k) => k,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    match kiosk {
        (Some(k), _) if k.business_id == clinic.business_id => {
            form_or_refusal(&app, &clinic, lang, &FormState::default(), StatusCode::OK).await
        }
        (_, had_cookie) => sign_in_page(&clinic, lang, had_cookie.then(|| lang.d(D::kiosk_signed_out)), StatusCode::OK),
    }
}

/// The blank form, or why the clinic takes no tokens now (which the kiosk re-checks every
/// minute, so that it opens again by itself).
async fn form_or_refusal(
    app: &AppState,
    clinic: &ClinicView,
    lang: Lang,
    form: &FormState,
    status: StatusCode,
) -> Response {
    if let Some(reason) = &clinic.refusal_reason {
        let (title, body) = refusal_reasons(lang, reason);
        return message(clinic, lang, StatusCode::OK, title, body, false);
    }
    let lines = match load_lines(app, clinic).await {
        Ok(l) => l,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    html_response(status, Cache::NoStore, form_page(clinic, &lines, lang, form))
}

fn form_page(clinic: &ClinicView, lines: &[QueueLine], lang: Lang, form: &FormState) -> Markup {
    let base = base(&clinic.slug);
    let strings = lang.json(&[K::err_phone, K::err_name, K::joining, K::err_pick_line]);
    let several = !lines.is_empty();
    // A form with nothing typed in reloads itself now and then, so that the lines' waits
    // and a day opened or closed meanwhile show; one being filled in is left alone.
    let body = html! {
        (language_switch(lang, &base))
        main.card.intake.kiosk-card #kiosk data-refresh="60" {
            (clinic_header(clinic, lang, several))
            h2 { (lang.t(K::kiosk_title)) }
            p.lead { (lang.t(K::kiosk_lead)) }
            p #form-error .error role="alert" hidden[form.error.is_none()] {
                @if let Some(e) = &form.error { (e) }
            }
            form #intake method="post" action=(base) data-i18n=(strings) data-phone-optional="1" autocomplete="off" {
                @if several { (line_picker(lang, lines, form)) }
                label for="patient_name" { (lang.t(K::name_label)) }
                input #patient_name name="patient_name" type="text" autocomplete="off" required maxlength="80"
                    value=(form.patient_name);
                label for="patient_phone" { (lang.t(K::kiosk_phone_label)) }
                input #patient_phone name="patient_phone" type="tel" inputmode="tel" autocomplete="off"
                    maxlength="20" placeholder=(lang.t(K::phone_hint)) value=(form.patient_phone);
                input type="hidden" name="language" value=(lang.code());
                p.consent { (lang.t(K::consent)) }
                button #join .primary type="submit" { (lang.t(K::join_button)) }
            }
        }
    };
    kiosk_layout(lang, &format!("{} · {}", lang.t(K::kiosk_title), clinic.name), body)
}

/// A message for the patient at the kiosk; the page goes back to the form by itself.
fn message(clinic: &ClinicView, lang: Lang, status: StatusCode, title: &str, body: &str, back: bool) -> Response {
    let base = base(&clinic.slug);
    let markup = kiosk_layout(
        lang,
        title,
        html! {
            main.card.message.kiosk-card #kiosk-message data-return={ (base) "?lang=" (lang.code()) }
                data-return-seconds=(if back { MESSAGE_SECONDS } else { 60 }) {
                p.clinic-name { (clinic.name) }
                h1 { (title) }
                @if !body.is_empty() { p { (body) } }
                @if back {
                    p { a.button.primary href={ (base) "?lang=" (lang.code()) } { (lang.t(K::back_to_form)) } }
                }
            }
        },
    );
    html_response(status, Cache::NoStore, markup)
}

#[derive(Deserialize, Default)]
pub struct OpenForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub paper: String,
}

/// The sign-in that opens the kiosk (for staff: the desk's languages).
fn sign_in_page(clinic: &ClinicView, lang: Lang, notice: Option<&str>, status: StatusCode) -> Response {
    let base = base(&clinic.slug);
    let body = html! {
        main.card.kiosk-card.kiosk-sign-in #kiosk-sign-in {
            p.clinic-name { (clinic.name) }
            h1 { (lang.t(K::kiosk_closed)) }
            @if let Some(notice) = notice { p #kiosk-notice .error role="alert" { (notice) } }
            details open[notice.is_some()] {
                summary { (lang.d(D::kiosk_heading)) }
                p.small-print { (lang.df(D::kiosk_hint, &[("clinic", &clinic.name)])) }
                form #kiosk-open method="post" action={ (base) "/open" } {
                    label for="email" { (lang.d(D::email)) }
                    input #email name="email" type="email" autocomplete="username" required maxlength="254";
                    label for="password" { (lang.d(D::password)) }
                    input #password name="password" type="password" autocomplete="current-password" required maxlength="1024";
                    label for="paper" { (lang.d(D::slip_paper)) }
                    select #paper name="paper" {
                        option value="80" selected { "80 mm" }
                        option value="58" { "58 mm" }
                        option value="a6" { "A6" }
                    }
                    button #kiosk-open-button .primary type="submit" { (lang.d(D::kiosk_open)) }
                }
            }
        }
    };
    html_response(
        status,
        Cache::NoStore,
        kiosk_layout(lang, &format!("{} · {}", lang.d(D::kiosk_heading), clinic.name), body),
    )
}

/// `POST /c/{slug}/kiosk/open`: a staff member signs the tablet in as the clinic's kiosk.
pub async fn open(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    parts: Parts,
    form: Result<Form<OpenForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let early = page_lang(None, &parts, Lang::En);
    let clinic = match load_clinic(&app, &slug).await {
        Ok(c) => c,
        Err(e) => return PageError::new(early, e).into_response(),
    };
    let lang = page_lang(None, &parts, clinic.default_language);
    // Another site's page must not turn a visitor's browser into a kiosk (login CSRF).
    if from_another_site(&parts, &app) {
        tracing::info!(%ip, "kiosk sign-in posted from another site");
        return sign_in_page(&clinic, lang, Some(lang.t(K::err_generic)), StatusCode::FORBIDDEN);
    }
    let secret = accounts::new_session_secret();
    let digest = accounts::session_digest(&secret);
    let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let db = match app.db.get().await {
        Ok(db) => db,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    let opened = crate::sql::open_kiosk(
        &db,
        &form.email,
        &form.password,
        &digest,
        &slug,
        // As long as a staff login, within the extension's bound for a kiosk.
        app.session_ttl.min(KIOSK_TTL_MAX),
        &form.paper,
        ip,
        user_agent,
    )
    .await;
    let kiosk = match opened {
        Ok(KioskOpened::Ok(k)) => k,
        Ok(KioskOpened::Wrong) => {
            tracing::info!(%ip, "failed kiosk sign-in");
            return sign_in_page(&clinic, lang, Some(lang.d(D::kiosk_wrong)), StatusCode::UNAUTHORIZED);
        }
        Ok(KioskOpened::Limited { retry_after }) => {
            let mut r = sign_in_page(&clinic, lang, Some(lang.d(D::kiosk_limited)), StatusCode::TOO_MANY_REQUESTS);
            super::set_header(&mut r, header::RETRY_AFTER, &retry_after.as_secs().to_string());
            return r;
        }
        Ok(KioskOpened::NotThisClinic) => {
            let notice = lang.df(D::kiosk_not_this_clinic, &[("clinic", &clinic.name)]);
            return sign_in_page(&clinic, lang, Some(&notice), StatusCode::FORBIDDEN);
        }
        // An empty field or an unknown paper: the extension's words (the desk's English).
        Err(ApiError::InvalidInput(refusal)) => {
            return sign_in_page(&clinic, lang, Some(&refusal.message), StatusCode::BAD_REQUEST);
        }
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    // The tablet is the patients' now: a staff login it held ends here.
    if let Some(Credential::Cookie(old)) = credential(&parts) {
        if let Err(e) = crate::sql::end_login_session(&db, &accounts::session_digest(&old)).await {
            tracing::warn!(error = %e, "could not end the staff login of a new kiosk");
        }
    }
    tracing::info!(kiosk_id = %kiosk.kiosk_id, business_id = %kiosk.business_id, "kiosk opened");
    let max_age = u64::try_from((kiosk.expires_at - chrono::Utc::now()).num_seconds()).unwrap_or(0);
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, base(&kiosk.slug))]).into_response();
    super::set_header(&mut response, header::SET_COOKIE, &kiosk_cookie(&app, &kiosk.slug, &secret, max_age));
    response.headers_mut().append(header::SET_COOKIE, crate::http::auth::session_cookie(&app, "", 0));
    response
}

/// `POST /c/{slug}/kiosk`: a patient joins at the kiosk.
pub async fn join(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    parts: Parts,
    form: Result<Form<FormState>, FormRejection>,
) -> Response {
    let mut form = form.map(|Form(f)| f).unwrap_or_default();
    let chosen = Some(form.language.as_str()).filter(|l| Lang::parse(l).is_some());
    let early = page_lang(chosen, &parts, Lang::En);
    let clinic = match load_clinic(&app, &slug).await {
        Ok(c) => c,
        Err(e) => return PageError::new(early, e).into_response(),
    };
    let lang = page_lang(chosen, &parts, clinic.default_language);
    if from_another_site(&parts, &app) {
        return message(&clinic, lang, StatusCode::FORBIDDEN, lang.t(K::error_title), lang.t(K::err_generic), true);
    }
    // The kiosk is checked where the token is taken (`qlink.kiosk_create_token`), once.
    let Some(secret) = cookie(&parts, KIOSK_COOKIE) else { return signed_out(&app, &clinic, lang) };
    let db = match app.db.get().await {
        Ok(db) => db,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    let phone = Some(form.patient_phone.trim()).filter(|p| !p.is_empty());
    let queue_id = Uuid::parse_str(form.queue_id.trim()).ok();
    let created = crate::sql::kiosk_create_token(
        &db,
        &accounts::session_digest(&secret),
        &form.patient_name,
        phone,
        Some(lang.code()),
        queue_id,
    )
    .await;
    match created {
        Ok((row, paper)) => {
            app.wake_worker(&db).await;
            let slip = format!("/t/{}/slip?paper={paper}&print=1&kiosk=1&lang={}", row.token_id, lang.code());
            (StatusCode::SEE_OTHER, [(header::LOCATION, slip)]).into_response()
        }
        Err(ApiError::InvalidInput(refusal)) => {
            form.error = Some(form_error(lang, refusal));
            form_or_refusal(&app, &clinic, lang, &form, StatusCode::BAD_REQUEST).await
        }
        Err(ApiError::Forbidden(refusal)) => match refusal.reason.as_deref() {
            Some("kiosk_signed_out") => signed_out(&app, &clinic, lang),
            Some(reason @ ("queue_inactive" | "queue_without_room")) if clinic.queue_count > 1 => {
                form.error = Some(super::intake::line_refusal(lang, reason).to_string());
                form.queue_id.clear();
                form_or_refusal(&app, &clinic, lang, &form, StatusCode::FORBIDDEN).await
            }
            Some(reason) => {
                let (title, body) = refusal_reasons(lang, reason);
                message(&clinic, lang, StatusCode::FORBIDDEN, title, body, true)
            }
            None => message(&clinic, lang, StatusCode::FORBIDDEN, lang.t(K::closed_title), &refusal.message, true),
        },
        Err(ApiError::RateLimited(refusal)) => {
            let (title, body) = match refusal.reason.as_deref() {
                Some("phone_limit") => (lang.t(K::already_title), lang.t(K::kiosk_phone_taken)),
                Some("daily_token_limit") => (lang.t(K::limit_daily_title), lang.t(K::limit_daily)),
                _ => (lang.t(K::limit_title), lang.t(K::kiosk_busy)),
            };
            message(&clinic, lang, StatusCode::TOO_MANY_REQUESTS, title, body, true)
        }
        // A line that is gone since the form was shown (`queue_not_found`): pick again.
        Err(ApiError::NotFound(_)) => {
            form.error = Some(lang.t(K::err_pick_line).to_string());
            form.queue_id.clear();
            form_or_refusal(&app, &clinic, lang, &form, StatusCode::BAD_REQUEST).await
        }
        Err(e) => PageError::new(lang, e).into_response(),
    }
}

/// The kiosk's sign-in ended: the sign-in page, and the stale cookie goes.
fn signed_out(app: &AppState, clinic: &ClinicView, lang: Lang) -> Response {
    let mut r = sign_in_page(clinic, lang, Some(lang.d(D::kiosk_signed_out)), StatusCode::UNAUTHORIZED);
    super::set_header(&mut r, header::SET_COOKIE, &kiosk_cookie(app, &clinic.slug, "", 0));
    r
}
