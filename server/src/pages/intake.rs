//! `/c/{slug}`: the page behind the clinic's QR code. A plain HTML form posted to the server
//! (it works on any phone, with or without JavaScript; intake.js only guards against double
//! taps and checks the number before sending). The server calls the same
//! `http::public::create_qr_token` as the JSON API, so both apply the same rules.
//!
//! A clinic with several lines (doctors) asks the patient to pick one, each with its current
//! wait (`qlink.list_queues`); a line that takes nobody now is shown disabled with the reason.
//! `?queue=ID` (the QR code of one line's poster) picks that line beforehand. A clinic with
//! one line shows the 0.1 form.
//!
//! Beside the form, "Join on WhatsApp" opens a chat with the clinic's number (its own, else
//! the installation's `WHATSAPP_DISPLAY_NUMBER`) with `JOIN <slug>` typed in, which
//! `qlink.handle_inbound` reads; and one line says how to stop the clinic's messages.
//!
//! Which tokens this browser took is remembered in an HttpOnly cookie, so "this number
//! already has a token" can link to the patient's own token, and never to a token someone
//! else took for that number.

use super::i18n::{Lang, K};
use super::{clinic_message_page, html_response, language_switch, layout, message_page, not_found, Cache, PageError};
use crate::app::AppState;
use crate::error::{ApiError, Refusal};
use crate::http::extract::{cookie, from_another_site, ClientIp};
use crate::http::public::{create_qr_token_in, load_status};
use crate::sql::QueueLine;
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
    /// The line picked beforehand (a line's own poster).
    pub queue: Option<String>,
}

/// The public face of a clinic, for its pages.
pub struct ClinicView {
    pub business_id: Uuid,
    pub slug: String,
    pub name: String,
    pub now_serving_number: Option<i32>,
    pub waiting_count: i32,
    /// Why the clinic takes no QR tokens now (the extension's reason), None while it does.
    pub refusal_reason: Option<String>,
    pub default_language: Lang,
    /// How many lines the clinic has (active or not).
    pub queue_count: i32,
}

pub async fn load_clinic(app: &AppState, slug: &str) -> Result<ClinicView, ApiError> {
    let db = app.db.get().await?;
    let c = crate::sql::clinic_by_slug(&db, slug).await?;
    Ok(ClinicView {
        default_language: Lang::parse(c.default_language()).unwrap_or(Lang::En),
        business_id: c.business_id,
        queue_count: c.queue_count,
        slug: c.slug,
        name: c.name,
        now_serving_number: c.now_serving_number,
        waiting_count: c.waiting_count,
        refusal_reason: c.refusal_reason,
    })
}

/// Where "Join on WhatsApp" leads: the chat link and the number it opens.
pub struct WhatsAppJoin {
    /// `https://wa.me/<digits>?text=JOIN%20<code>`.
    pub link: String,
    /// The number as the operator wrote it, for people to read.
    pub number: String,
    /// What the patient sends after JOIN: the slug, or `slug/PREFIX` for one line.
    pub code: String,
}

/// The clinic's "Join on WhatsApp": its own number, else the installation's; None when
/// neither is known. `line_prefix` names one line (its poster). Reading the sender failing
/// only hides the link: the form still works.
pub async fn whatsapp_join(app: &AppState, clinic: &ClinicView, line_prefix: Option<&str>) -> Option<WhatsAppJoin> {
    let own = match app.db.get().await {
        Ok(db) => match crate::sql::clinic_sender(&db, clinic.business_id).await {
            Ok(sender) => sender.display_number,
            Err(e) => {
                tracing::warn!(error = %e, "reading the clinic's WhatsApp sender failed; no WhatsApp link");
                return None;
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "no database connection for the WhatsApp link");
            return None;
        }
    };
    let number = own.or_else(|| app.whatsapp_display_number.clone())?;
    let code = match line_prefix.map(str::trim).filter(|p| !p.is_empty()) {
        Some(prefix) => format!("{}/{prefix}", clinic.slug),
        None => clinic.slug.clone(),
    };
    let link = crate::http::senders::join_link(&number, &code)?;
    Some(WhatsAppJoin { link, number, code })
}

/// The clinic's lines when it has several (the patient picks one), in the clinic's order;
/// empty for a clinic with one line.
pub async fn load_lines(app: &AppState, clinic: &ClinicView) -> Result<Vec<QueueLine>, ApiError> {
    if clinic.queue_count <= 1 {
        return Ok(Vec::new());
    }
    let db = app.db.get().await?;
    crate::sql::list_queues(&db, clinic.business_id).await
}

/// Why a line takes no tokens now, in the patient's words.
pub(super) fn line_refusal(lang: Lang, reason: &str) -> &'static str {
    match reason {
        "queue_inactive" => lang.t(K::line_inactive),
        "session_closed" => lang.t(K::line_closed),
        "daily_token_limit" => lang.t(K::line_full),
        _ => lang.t(K::line_unavailable),
    }
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

/// The newest token this browser took at this clinic, with its label and status.
async fn my_token_here(app: &AppState, parts: &Parts, slug: &str) -> Option<(Uuid, String, String)> {
    for id in my_tokens(parts) {
        if let Ok(status) = load_status(app, id).await {
            if status.business_slug == slug {
                return Some((id, status.token_label, status.status));
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
    let lines = match load_lines(&app, &clinic).await {
        Ok(l) => l,
        Err(e) => return PageError::new(lang, e).into_response(),
    };
    let form = FormState { queue_id: query.queue.clone().unwrap_or_default(), ..FormState::default() };
    let join = whatsapp_join(&app, &clinic, None).await;
    let markup = form_page(&clinic, &lines, lang, &form, existing.map(|(id, n, _)| (id, n)), join.as_ref());
    html_response(StatusCode::OK, Cache::NoCache, markup)
}

/// The page instead of the form when the clinic takes no tokens by QR right now, by the
/// extension's reason (sql/API.md).
fn refusal_page(clinic_name: &str, lang: Lang, reason: &str) -> Response {
    let status = match reason {
        "clinic_suspended" | "clinic_disabled" => StatusCode::FORBIDDEN,
        _ => StatusCode::OK,
    };
    let (title, body) = refusal_reasons(lang, reason);
    clinic_message_page(lang, status, Some(clinic_name), title, body, html! {})
}

/// What the patient is told when the clinic takes no self-service tokens now (the
/// extension's reason), as a title and a line.
pub(super) fn refusal_reasons(lang: Lang, reason: &str) -> (&'static str, &'static str) {
    match reason {
        "clinic_suspended" | "clinic_disabled" => (lang.t(K::suspended_title), lang.t(K::suspended_body)),
        "daily_token_limit" => (lang.t(K::limit_daily_title), lang.t(K::limit_daily)),
        // qr_intake_off, session_closed.
        _ => (lang.t(K::closed_title), lang.t(K::closed_body)),
    }
}

#[derive(Default, Deserialize)]
pub struct FormState {
    #[serde(default)]
    pub patient_name: String,
    #[serde(default)]
    pub patient_phone: String,
    #[serde(default)]
    pub language: String,
    /// The line picked (a clinic with several).
    #[serde(default)]
    pub queue_id: String,
    #[serde(skip)]
    pub error: Option<String>,
}

/// The line the form shows picked: the patient's (or the poster's) choice if it takes
/// tokens, else the only line that does.
fn picked_line<'a>(lines: &'a [QueueLine], form: &FormState) -> Option<&'a QueueLine> {
    let open: Vec<&QueueLine> = lines.iter().filter(|l| l.accepting_tokens).collect();
    let chosen = Uuid::parse_str(form.queue_id.trim()).ok();
    chosen.and_then(|id| open.iter().copied().find(|l| l.queue_id == id)).or(match open.as_slice() {
        [only] => Some(*only),
        _ => None,
    })
}

fn wait_text(lang: Lang, line: &QueueLine) -> String {
    let (lo, hi) = (line.eta_min_minutes.to_string(), line.eta_max_minutes.to_string());
    if line.waiting_count == 0 && line.eta_max_minutes == 0 {
        lang.t(K::line_no_wait).to_string()
    } else {
        lang.tf(K::line_wait, &[("n", &line.waiting_count.to_string()), ("lo", &lo), ("hi", &hi)])
    }
}

/// The choice of line: one big radio button per line, its wait or why it is closed.
pub(super) fn line_picker(lang: Lang, lines: &[QueueLine], form: &FormState) -> Markup {
    let picked = picked_line(lines, form).map(|l| l.queue_id);
    html! {
        fieldset #lines .lines {
            legend { (lang.t(K::choose_line)) }
            @for line in lines {
                @let id = format!("line-{}", line.queue_id);
                @let open = line.accepting_tokens;
                div.line .closed[!open] data-queue-id=(line.queue_id) {
                    input type="radio" name="queue_id" id=(id) value=(line.queue_id) required
                        checked[picked == Some(line.queue_id)] disabled[!open];
                    label for=(id) {
                        span.line-name { (line.name) }
                        span.line-wait {
                            @if open { (wait_text(lang, line)) }
                            @else { (line_refusal(lang, line.refusal_reason.as_deref().unwrap_or(""))) }
                        }
                    }
                }
            }
        }
    }
}

/// The clinic's name, and with one line who is being served and how many wait.
pub(super) fn clinic_header(clinic: &ClinicView, lang: Lang, several: bool) -> Markup {
    html! {
        header.clinic {
            h1 { (clinic.name) }
            p.queue-line hidden[several] {
                (lang.t(K::now_serving)) ": "
                strong { @match clinic.now_serving_number { Some(n) => (n), None => (lang.t(K::nobody_serving)) } }
                " · " (lang.tf(K::waiting_count, &[("n", &clinic.waiting_count.to_string())]))
            }
        }
    }
}

/// A refused form's advice in the patient's language (the extension's messages are English,
/// for the receptionist).
pub(super) fn form_error(lang: Lang, refusal: Refusal) -> String {
    match refusal.reason.as_deref() {
        Some("invalid_phone") => lang.t(K::err_phone).to_string(),
        Some("invalid_name") => lang.t(K::err_name).to_string(),
        Some("queue_required") => lang.t(K::err_pick_line).to_string(),
        _ => refusal.message,
    }
}

fn form_page(
    clinic: &ClinicView,
    lines: &[QueueLine],
    lang: Lang,
    form: &FormState,
    existing: Option<(Uuid, String)>,
    join: Option<&WhatsAppJoin>,
) -> Markup {
    let base = format!("/c/{}", clinic.slug);
    let strings = lang.json(&[K::err_phone, K::err_name, K::joining, K::err_pick_line]);
    let several = !lines.is_empty();
    let body = html! {
        (language_switch(lang, &base))
        main.card.intake {
            (clinic_header(clinic, lang, several))
            h2 { (lang.t(K::intake_title)) }
            p.lead { (lang.t(K::intake_lead)) }
            @if let Some((id, label)) = &existing {
                p.notice {
                    (lang.tf(K::existing_token, &[("n", label.as_str())])) " "
                    a href={ "/t/" (id) } { (lang.t(K::track_my_token)) }
                }
            }
            p #form-error .error role="alert" hidden[form.error.is_none()] {
                @if let Some(e) = &form.error { (e) }
            }
            form #intake method="post" action=(base) data-i18n=(strings) {
                @if several { (line_picker(lang, lines, form)) }
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
            @if let Some(join) = join {
                div.whatsapp-join {
                    p.small-print { (lang.t(K::join_whatsapp_hint)) }
                    a.button.whatsapp href=(join.link) rel="noopener" { (lang.t(K::join_whatsapp)) }
                }
            }
            p.small-print.stop-line { (lang.t(K::stop_whatsapp)) }
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
    let query = LangQuery { lang: Some(form.language.clone()).filter(|l| Lang::parse(l).is_some()), queue: None };
    let lang = early_lang(&query, &parts.headers);
    // Another site's page must not take tokens (and send WhatsApp messages) in a visitor's
    // name: the form is taken only from our own page, the way the API's writes are.
    if from_another_site(&parts, &app) {
        tracing::info!(%ip, "intake form posted from another site");
        let back = format!("/c/{slug}");
        return message_page(
            lang,
            StatusCode::FORBIDDEN,
            lang.t(K::error_title),
            lang.t(K::err_generic),
            html! { p { a href=(back) { (lang.t(K::intake_title)) } } },
        );
    }
    // As in the JSON API: the patient's choice, else the browser's, else the clinic's default.
    let language = Lang::parse(&form.language)
        .map(|l| l.code().to_string())
        .or_else(|| crate::http::public::language_from_headers(&parts.headers));
    // A clinic with one line takes no choice (as in 0.1); a choice that is not an id is none.
    let queue_id = Uuid::parse_str(form.queue_id.trim()).ok();
    match create_qr_token_in(&app, &slug, queue_id, &form.patient_name, &form.patient_phone, ip, language).await {
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
            form.error = Some(form_error(lang, refusal));
            let lines = match load_lines(&app, &clinic).await {
                Ok(l) => l,
                Err(e) => return PageError::new(lang, e).into_response(),
            };
            let join = whatsapp_join(&app, &clinic, None).await;
            let markup = form_page(&clinic, &lines, lang, &form, None, join.as_ref());
            html_response(StatusCode::BAD_REQUEST, Cache::NoCache, markup)
        }
        Err(ApiError::Forbidden(refusal)) => match refusal.reason.as_deref() {
            Some(reason) => match load_clinic(&app, &slug).await {
                // The line picked closed meanwhile: the patient may pick another one.
                Ok(clinic) if clinic.queue_count > 1 && clinic.refusal_reason.is_none() => {
                    let lines = match load_lines(&app, &clinic).await {
                        Ok(l) => l,
                        Err(e) => return PageError::new(lang, e).into_response(),
                    };
                    form.error = Some(line_refusal(lang, reason).to_string());
                    form.queue_id.clear();
                    let join = whatsapp_join(&app, &clinic, None).await;
                    let markup = form_page(&clinic, &lines, lang, &form, None, join.as_ref());
                    html_response(StatusCode::FORBIDDEN, Cache::NoCache, markup)
                }
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
            @if let Some((id, label, _)) = mine {
                p.notice {
                    (lang.tf(K::already_yours, &[("n", &label)])) " "
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
