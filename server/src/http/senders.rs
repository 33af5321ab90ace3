//! WhatsApp senders (SPEC §11): the number each clinic's messages go out from, and the daily
//! recipient cap of each WhatsApp business account. The operator sets a clinic's own number
//! (or sends it back to the installation's) and an account's cap, and watches each sender's
//! backlog; a clinic's owner only reads which number patients will hear from.
//!
//! A clinic's own access token is sealed here, before it reaches the database
//! (`crypto::SecretKey::seal`, with the phone number id as associated data, so a sealed
//! token copied to another sender's row does not open there). No answer, log line or audit
//! entry ever holds it: answers say `has_access_token`, the audit says whether it changed.

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, Refusal};
use crate::http::extract::{path_uuid, ApiObject, ClientIp, ClinicOwner, SuperAdmin};
use crate::http::rules;
use crate::sql::{self, Actor, ClinicSender, SenderBacklog};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn actor(admin: &SuperAdmin, ip: std::net::IpAddr) -> Actor<'_> {
    Actor { email: &admin.0.email, ip: Some(ip) }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderSettings {
    #[schema(schema_with = rules::phone_number_id)]
    pub phone_number_id: String,
    #[schema(schema_with = rules::display_number)]
    pub display_number: String,
    #[schema(schema_with = rules::waba_id)]
    pub waba_id: String,
    #[schema(schema_with = rules::access_token)]
    pub access_token: Option<String>,
    /// true: forget the number's own access token (the installation's is used). Ignored when
    /// `access_token` is given, which replaces it anyway.
    pub clear_access_token: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientLimitChange {
    #[schema(schema_with = rules::recipient_limit)]
    #[serde(deserialize_with = "rules::whole_i32")]
    pub daily_recipient_limit: i32,
}

#[derive(Serialize, ToSchema)]
pub struct RecipientLimit {
    /// `installation` for the installation's account.
    pub waba_id: String,
    pub daily_recipient_limit: i32,
}

#[derive(Serialize, ToSchema)]
pub struct SenderList {
    /// One row per sender number, the installation's first.
    pub senders: Vec<SenderBacklog>,
}

/// What a clinic's owner sees: the clinic's sender, and the number patients write to.
#[derive(Serialize, ToSchema)]
pub struct OwnerSender {
    /// false: the clinic sends from the installation's number.
    pub own_sender: bool,
    pub phone_number_id: Option<String>,
    pub display_number: Option<String>,
    pub waba_id: Option<String>,
    pub has_access_token: bool,
    pub daily_recipient_limit: Option<i32>,
    /// The installation's number (WHATSAPP_DISPLAY_NUMBER) when the clinic has none of its
    /// own; null when it has one, or when the installation's is not configured.
    pub installation_display_number: Option<String>,
}

/// The access token, trimmed, sealed for this sender. No token: None. A token without
/// `QLINK_SECRET_KEY` is refused: it must never be stored in the clear.
fn seal_token(app: &AppState, phone_number_id: &str, token: Option<&str>) -> ApiResult<Option<Vec<u8>>> {
    let Some(token) = token.map(str::trim) else { return Ok(None) };
    let visible = |t: &str| t.bytes().all(|b| (0x21..=0x7E).contains(&b));
    if token.is_empty() || token.len() > rules::MAX_ACCESS_TOKEN || !visible(token) {
        return Err(ApiError::InvalidInput(Refusal {
            message: format!(
                "The access token must be 1–{} visible ASCII characters without spaces.",
                rules::MAX_ACCESS_TOKEN
            ),
            reason: Some("invalid_access_token".into()),
        }));
    }
    let Some(key) = app.secret_key.as_ref() else {
        return Err(ApiError::Conflict(Refusal {
            message: "This server has no QLINK_SECRET_KEY, so it cannot store an access token: set it and restart, \
                      or leave the token out (the installation's token is used)."
                .into(),
            reason: Some("secret_key_missing".into()),
        }));
    };
    Ok(Some(key.seal(phone_number_id.as_bytes(), token.as_bytes())))
}

#[utoipa::path(get, path = "/api/v1/admin/clinics/{id}/whatsapp", tag = "admin",
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 200, body = ClinicSender), (status = 404, body = crate::error::ErrorBody, description = "No such clinic")))]
pub async fn clinic_sender(
    State(app): State<AppState>,
    _admin: SuperAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<ClinicSender>> {
    let business_id = path_uuid(&id)?;
    let db = app.db.get().await?;
    Ok(Json(sql::clinic_sender(&db, business_id).await?))
}

#[utoipa::path(put, path = "/api/v1/admin/clinics/{id}/whatsapp", tag = "admin", request_body = SenderSettings,
    description = "Makes the number the clinic's own sender (creating or updating the sender and its account). \
                   The access token is write-only: answers only say whether there is one.",
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 200, body = ClinicSender),
              (status = 400, body = crate::error::ErrorBody,
               description = "A bad phone number id, display number, WABA id or token (invalid_phone_number_id, \
                              invalid_phone, invalid_waba_id, invalid_access_token)"),
              (status = 404, body = crate::error::ErrorBody, description = "No such clinic"),
              (status = 409, body = crate::error::ErrorBody,
               description = "An access token, but the server has no QLINK_SECRET_KEY (secret_key_missing)")))]
pub async fn set_clinic_sender(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiObject(body): ApiObject<SenderSettings>,
) -> ApiResult<Json<ClinicSender>> {
    let business_id = path_uuid(&id)?;
    // As the extension will store it: the token is sealed for exactly this id.
    let phone_number_id = body.phone_number_id.trim();
    let sealed = seal_token(&app, phone_number_id, body.access_token.as_deref())?;
    let change = sql::SenderChange {
        phone_number_id,
        display_number: &body.display_number,
        waba_id: &body.waba_id,
        access_token_enc: sealed.as_deref(),
        clear_access_token: sealed.is_none() && body.clear_access_token.unwrap_or(false),
    };
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    sql::set_clinic_sender(&tx, admin.0.login(), business_id, &change, Some(actor(&admin, ip))).await?;
    let sender = sql::clinic_sender(&tx, business_id).await?;
    tx.commit().await?;
    Ok(Json(sender))
}

#[utoipa::path(delete, path = "/api/v1/admin/clinics/{id}/whatsapp", tag = "admin",
    description = "Back to the installation's number. Messages already queued keep the sender they were queued with.",
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 204, description = "The clinic sends from the installation's number (also when it already did)"),
              (status = 404, body = crate::error::ErrorBody, description = "No such clinic")))]
pub async fn clear_clinic_sender(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let business_id = path_uuid(&id)?;
    let db = app.db.get().await?;
    sql::clear_clinic_sender(&db, admin.0.login(), business_id, Some(actor(&admin, ip))).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/admin/whatsapp/accounts/{waba_id}", tag = "admin", request_body = RecipientLimitChange,
    description = "An account's daily cap of unique recipients of template messages, shared by all its numbers. \
                   Messages over it wait (PENDING) rather than fail.",
    params(("waba_id" = String, Path, pattern = "^(?:installation|[0-9]{5,32})$",
            description = "The WhatsApp business account id, or `installation` for the installation's number")),
    responses((status = 200, body = RecipientLimit),
              (status = 400, body = crate::error::ErrorBody, description = "Out of range (invalid_recipient_limit)"),
              (status = 404, body = crate::error::ErrorBody, description = "No such account (account_not_found)")))]
pub async fn set_recipient_limit(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(waba_id): Path<String>,
    ApiObject(body): ApiObject<RecipientLimitChange>,
) -> ApiResult<Json<RecipientLimit>> {
    // An address that names no account is "not found", as any address is (the extension
    // says `invalid_waba_id`, 22023, which is what a body naming one gets).
    let valid =
        waba_id == "installation" || ((5..=32).contains(&waba_id.len()) && waba_id.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return Err(ApiError::NotFound("No such WhatsApp business account.".into()));
    }
    let db = app.db.get().await?;
    let limit =
        sql::set_recipient_limit(&db, admin.0.login(), &waba_id, body.daily_recipient_limit, Some(actor(&admin, ip)))
            .await?;
    Ok(Json(RecipientLimit { waba_id, daily_recipient_limit: limit }))
}

#[utoipa::path(get, path = "/api/v1/admin/whatsapp/senders", tag = "admin",
    description = "Each sender number's backlog: pending messages, those held by the daily recipient cap, failed \
                   ones awaiting a retry, and its account's recipients of the last 24 hours against the cap.",
    responses((status = 200, body = SenderList)))]
pub async fn sender_backlog(State(app): State<AppState>, _admin: SuperAdmin) -> ApiResult<Json<SenderList>> {
    let db = app.db.get().await?;
    Ok(Json(SenderList { senders: sql::sender_backlog(&db).await? }))
}

#[utoipa::path(get, path = "/api/v1/staff/whatsapp", tag = "owner",
    description = "The number the clinic's patients get WhatsApp messages from and write to. An OWNER login only; \
                   only the operator changes it.",
    responses((status = 200, body = OwnerSender)))]
pub async fn owner_sender(State(app): State<AppState>, owner: ClinicOwner) -> ApiResult<Json<OwnerSender>> {
    let db = app.db.get().await?;
    let s = sql::clinic_sender(&db, owner.business_id).await?;
    let installation_display_number = if s.own_sender { None } else { app.whatsapp_display_number.clone() };
    Ok(Json(OwnerSender {
        own_sender: s.own_sender,
        phone_number_id: s.phone_number_id,
        display_number: s.display_number,
        waba_id: s.waba_id,
        has_access_token: s.has_access_token,
        daily_recipient_limit: s.daily_recipient_limit,
        installation_display_number,
    }))
}

/// The "Join on WhatsApp" link: a chat with `display_number` with `JOIN <slug>` typed in
/// (what `qlink.handle_inbound` reads). None when the number has no digits.
pub fn join_link(display_number: &str, slug: &str) -> Option<String> {
    let digits: String = display_number.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let text: String = format!("JOIN {slug}")
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Some(format!("https://wa.me/{digits}?text={text}"))
}

#[cfg(test)]
mod tests {
    use super::join_link;

    #[test]
    fn join_links_open_a_chat_with_the_join_words() {
        assert_eq!(
            join_link("+91 98123-45678", "city-clinic").as_deref(),
            Some("https://wa.me/919812345678?text=JOIN%20city-clinic")
        );
        assert_eq!(
            join_link("+919812345678", "a/b c").as_deref(),
            Some("https://wa.me/919812345678?text=JOIN%20a%2Fb%20c")
        );
        assert_eq!(join_link("", "x"), None);
        assert_eq!(join_link("<script>", "x"), None);
    }
}
