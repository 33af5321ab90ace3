//! The stylesheet and page scripts, compiled into the binary (no files to deploy, no build
//! step). Each is served at `/assets/{hash}/{name}`: the hash of its content is in the URL,
//! so browsers may cache it for a year and a new release is fetched at once.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asset {
    Css,
    /// qlink.js: the helpers StaffJs, AdminJs, OwnerJs and ReportsJs share.
    SharedJs,
    IntakeJs,
    TrackJs,
    StaffJs,
    AdminJs,
    /// owner.js: the clinic owner's page (and the login of the owner's reports).
    OwnerJs,
    /// reports.js: the operator's reports page (plans).
    ReportsJs,
    DisplayJs,
    /// slip.js: prints the token slip when asked to.
    SlipJs,
    Icon,
}

struct File {
    asset: Asset,
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const FILES: &[File] = &[
    File {
        asset: Asset::Css,
        name: "qlink.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../static/qlink.css"),
    },
    File {
        asset: Asset::SharedJs,
        name: "qlink.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/qlink.js"),
    },
    File {
        asset: Asset::IntakeJs,
        name: "intake.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/intake.js"),
    },
    File {
        asset: Asset::TrackJs,
        name: "track.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/track.js"),
    },
    File {
        asset: Asset::StaffJs,
        name: "staff.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/staff.js"),
    },
    File {
        asset: Asset::AdminJs,
        name: "admin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/admin.js"),
    },
    File {
        asset: Asset::OwnerJs,
        name: "owner.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/owner.js"),
    },
    File {
        asset: Asset::ReportsJs,
        name: "reports.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/reports.js"),
    },
    File {
        asset: Asset::DisplayJs,
        name: "display.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/display.js"),
    },
    File {
        asset: Asset::SlipJs,
        name: "slip.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/slip.js"),
    },
    File {
        asset: Asset::Icon,
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../../static/icon.svg"),
    },
];

impl Asset {
    /// The scripts a page script needs loaded before it (`defer` keeps their order).
    pub fn needs(self) -> &'static [Asset] {
        match self {
            Asset::StaffJs | Asset::AdminJs | Asset::OwnerJs | Asset::ReportsJs => &[Asset::SharedJs],
            _ => &[],
        }
    }
}

/// The first 10 hex digits of each file's SHA-256, computed once.
fn hashes() -> &'static Vec<String> {
    static HASHES: OnceLock<Vec<String>> = OnceLock::new();
    HASHES.get_or_init(|| FILES.iter().map(|f| hex::encode(&Sha256::digest(f.body.as_bytes())[..5])).collect())
}

fn index(asset: Asset) -> usize {
    FILES.iter().position(|f| f.asset == asset).expect("every asset is in FILES")
}

/// The versioned URL of an asset, for `<link>` and `<script>`.
pub fn url(asset: Asset) -> String {
    let i = index(asset);
    format!("/assets/{}/{}", hashes()[i], FILES[i].name)
}

pub async fn serve(Path((hash, name)): Path<(String, String)>) -> Response {
    let Some(i) = FILES.iter().position(|f| f.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let file = &FILES[i];
    // A page from an older release may ask for an older hash: it gets today's file, but
    // nobody may keep it under that URL.
    let cache = if hash == hashes()[i] { "public, max-age=31536000, immutable" } else { "no-cache" };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(file.content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        file.body,
    )
        .into_response()
}
