//! Request extractors that answer in the API's error shape: JSON bodies, the client's IP,
//! and the logged-in user (cookie or bearer, with the CSRF check for cookie writes).

use crate::accounts;
use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, Method};
use std::net::{IpAddr, SocketAddr};
use uuid::Uuid;

/// `Json<T>` whose rejections are API errors (400 / 413 / 415) instead of plain text.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("Send JSON with Content-Type: application/json.".into())
            }
            JsonRejection::BytesRejection(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("The request body is too large.".into())
            }
            JsonRejection::JsonDataError(e) => ApiError::InvalidInput(
                format!(
                    "The request body is not valid: {}",
                    e.body_text().trim_start_matches("Failed to deserialize the JSON body into the target type: ")
                )
                .into(),
            ),
            JsonRejection::JsonSyntaxError(_) => ApiError::InvalidInput("The request body is not valid JSON.".into()),
            _ => ApiError::InvalidInput("The request body could not be read.".into()),
        }
    }
}

/// A JSON body that must be an object, as the document says: serde also reads a struct from
/// an array of its fields in order (`[null, null]` for a patch whose fields may all be left
/// out), which no client of the document sends.
pub struct ApiObject<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiObject<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let ApiJson(value) = ApiJson::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(ApiError::InvalidInput("The request body must be a JSON object.".into()));
        }
        serde_json::from_value(value)
            .map(ApiObject)
            .map_err(|e| ApiError::InvalidInput(format!("The request body is not valid: {e}").into()))
    }
}

/// Parses a path id; anything malformed is simply "not found" (no oracle).
pub fn path_uuid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

/// The client's address: the socket peer, or — only when that peer is a trusted proxy —
/// the last address in X-Forwarded-For that is not itself a trusted proxy.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(client_ip(peer, forwarded_chain(&parts.headers).as_deref(), &state.trusted_proxies)))
    }
}

/// Every X-Forwarded-For line, in order, as one list. A proxy may append its own line rather
/// than extend the client's, so the first line alone is whatever the client wrote. A line
/// that is not text counts as one unreadable hop.
pub fn forwarded_chain(headers: &axum::http::HeaderMap) -> Option<String> {
    let lines: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().map(|v| v.to_str().unwrap_or("unreadable")).collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(chain) = forwarded_for else { return peer };
    let mut last = peer;
    for hop in chain.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => last = ip,
            Ok(ip) => return ip,
            Err(_) => return last,
        }
    }
    last
}

/// A logged-in user.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    /// STAFF, OWNER or SUPER_ADMIN
    pub role: String,
    pub business_id: Option<Uuid>,
    /// The room a clinic login is pinned to: it acts in that room only.
    pub room_id: Option<Uuid>,
    /// The SHA-256 digest of the login's session secret: every clinic, owner and operator
    /// function of the extension takes it (`login => …`) and acts for this login only.
    #[serde(skip)]
    pub digest: Vec<u8>,
}

impl User {
    /// The user of a session whose secret has this digest.
    pub fn of_session(found: crate::sql::SessionUser, digest: Vec<u8>) -> User {
        User {
            id: found.staff_id,
            email: found.email,
            role: found.role,
            business_id: found.business_id,
            room_id: found.room_id,
            digest,
        }
    }

    /// Whom the extension's functions act for (`login => …`).
    pub fn login(&self) -> Option<&[u8]> {
        Some(&self.digest)
    }
}

/// How the request proved who it is.
pub enum Credential {
    Cookie(String),
    Bearer(String),
}

pub const SESSION_COOKIE: &str = "qlink_session";

pub fn credential(parts: &Parts) -> Option<Credential> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(token) = auth.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()) {
            return Some(Credential::Bearer(token.to_string()));
        }
    }
    cookie(parts, SESSION_COOKIE).map(Credential::Cookie)
}

pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// A request a browser sent from another site: it names an origin (Origin, or failing that
/// Referer) that is not ours. Browsers name one on every cross-site POST; a request naming
/// none comes from a program, which no other site can make a patient's browser send.
pub fn from_another_site(parts: &Parts, state: &AppState) -> bool {
    let names_one = parts.headers.contains_key(header::ORIGIN) || parts.headers.contains_key(header::REFERER);
    names_one && !same_origin(parts, state)
}

/// CSRF defence for cookie-authenticated writes: the request must come from our own pages
/// (Origin, or failing that Referer, equal to the public origin or the request's Host).
pub fn same_origin(parts: &Parts, state: &AppState) -> bool {
    let origin = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string).or_else(|| {
        let referer = parts.headers.get(header::REFERER)?.to_str().ok()?;
        let url = reqwest::Url::parse(referer).ok()?;
        Some(url.origin().ascii_serialization())
    });
    let Some(origin) = origin else { return false };
    if origin == state.public_origin {
        return true;
    }
    // Also accept the host the request was sent to (direct access on another address).
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (reqwest::Url::parse(&origin).ok(), host) {
        (Some(url), Some(host)) => {
            let with_port = match url.port() {
                Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
                None => url.host_str().unwrap_or_default().to_string(),
            };
            with_port == host
        }
        _ => false,
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = || ApiError::Unauthorized("Please log in.".into());
        let credential = credential(parts).ok_or_else(unauthorized)?;
        let secret = match &credential {
            Credential::Cookie(s) | Credential::Bearer(s) => s.clone(),
        };
        if matches!(credential, Credential::Cookie(_))
            && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
            && !same_origin(parts, state)
        {
            return Err(ApiError::Forbidden("This request did not come from a QLink page.".into()));
        }
        let db = state.db.get().await?;
        let digest = accounts::session_digest(&secret);
        let found = crate::sql::login_session_user(&db, &digest).await?;
        Ok(User::of_session(found.ok_or_else(unauthorized)?, digest))
    }
}

/// A receptionist: a clinic login (STAFF, or the clinic's OWNER, who can also work the desk),
/// acting on its own clinic only. A login pinned to a room acts in that room
/// (`user.room_id`; the extension enforces the pin).
pub struct ClinicStaff {
    pub user: User,
    pub business_id: Uuid,
}

impl FromRequestParts<AppState> for ClinicStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = User::from_request_parts(parts, state).await?;
        match (user.role.as_str(), user.business_id) {
            ("STAFF" | "OWNER", Some(business_id)) => Ok(ClinicStaff { user, business_id }),
            _ => Err(ApiError::Forbidden("This page is for a clinic's staff login.".into())),
        }
    }
}

/// A clinic's owner: an OWNER login, managing its own clinic only (its queues, rooms, staff
/// logins and the settings the operator lets it change).
pub struct ClinicOwner {
    pub user: User,
    pub business_id: Uuid,
}

impl FromRequestParts<AppState> for ClinicOwner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = User::from_request_parts(parts, state).await?;
        match (user.role.as_str(), user.business_id) {
            ("OWNER", Some(business_id)) => Ok(ClinicOwner { user, business_id }),
            _ => Err(ApiError::Forbidden("Only the clinic's owner can do this.".into())),
        }
    }
}

/// The operator.
pub struct SuperAdmin(pub User);

impl FromRequestParts<AppState> for SuperAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = User::from_request_parts(parts, state).await?;
        if user.role == "SUPER_ADMIN" {
            Ok(SuperAdmin(user))
        } else {
            Err(ApiError::Forbidden("Only the QLink operator can do this.".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{client_ip, forwarded_chain};
    use axum::http::{HeaderMap, HeaderValue};
    use std::net::IpAddr;

    #[test]
    fn every_forwarded_for_line_is_read_so_a_proxy_appended_line_wins() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut headers = HeaderMap::new();
        // The client's own (spoofed) line, then the line the proxy appended.
        headers.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.append("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        let chain = forwarded_chain(&headers);
        assert_eq!(chain.as_deref(), Some("6.6.6.6,1.2.3.4"));
        assert_eq!(client_ip(ip("10.0.0.2"), chain.as_deref(), &trusted), ip("1.2.3.4"));
        headers.append("x-forwarded-for", HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(client_ip(ip("10.0.0.2"), forwarded_chain(&headers).as_deref(), &trusted), ip("10.0.0.2"));
        assert_eq!(forwarded_chain(&HeaderMap::new()), None);
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.2"), Some("1.2.3.4"), &trusted), ip("1.2.3.4"));
        assert_eq!(client_ip(ip("10.0.0.2"), Some("6.6.6.6, 1.2.3.4, 10.0.0.9"), &trusted), ip("1.2.3.4"));
        assert_eq!(client_ip(ip("10.0.0.2"), Some("garbage"), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
    }
}
