//! The input rules of the `qlink` extension (pg_ext/src/validate.rs, admin.rs, accounts.rs,
//! queue.rs), written down as JSON Schema for the OpenAPI document, so that a client
//! generated from the document never sends what the server refuses, and what the document
//! forbids is refused. The extension stays the one place that enforces them; these schemas
//! only describe them, and tests/tests/openapi.rs checks the patterns against the same
//! samples the extension's own tests use.
//!
//! The extension trims its text inputs (Rust's `str::trim`: Unicode White_Space) before it
//! checks them, so the patterns allow that whitespace around the value and apply the
//! length and character rules to what is left: a plain `maxLength` would count the
//! whitespace too and refuse what the server takes. The regular expressions use only
//! syntax that ECMA-262, Python's `re` and Rust's `regex` read alike (classes, `\xHH`,
//! `\uHHHH`, bounded repeats), since clients, schemathesis and our test all apply them.

use serde_json::Value;
use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
};

/// Rust's `char::is_whitespace` (Unicode White_Space): what `str::trim` removes.
macro_rules! ws {
    () => {
        r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}
/// Rust's `char::is_control` (Unicode Cc).
macro_rules! cc {
    () => {
        r"\x00-\x1F\x7F-\x9F"
    };
}
/// A character that may start or end a trimmed text: neither whitespace nor control.
macro_rules! edge {
    () => {
        concat!("[^", cc!(), " \\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]")
    };
}

/// A patient's name: 1–80 characters after trimming, none of them a control character.
pub const PATIENT_NAME: &str =
    concat!("^[", ws!(), "]*", edge!(), "(?:[^", cc!(), "]{0,78}", edge!(), ")?[", ws!(), "]*$");

/// A clinic's name: 1–120 characters after trimming, no control characters.
pub const CLINIC_NAME: &str =
    concat!("^[", ws!(), "]*", edge!(), "(?:[^", cc!(), "]{0,118}", edge!(), ")?[", ws!(), "]*$");

/// A clinic's address: at most 300 characters after trimming, no control characters;
/// empty (or only whitespace) leaves it unset.
pub const ADDRESS: &str =
    concat!("^[", ws!(), "]*(?:", edge!(), "(?:[^", cc!(), "]{0,298}", edge!(), ")?)?[", ws!(), "]*$");

/// A doctor's delay note: at most 200 characters after trimming, on one line (no control
/// characters); empty (or only whitespace) is no note.
pub const DELAY_NOTE: &str =
    concat!("^[", ws!(), "]*(?:", edge!(), "(?:[^", cc!(), "]{0,198}", edge!(), ")?)?[", ws!(), "]*$");

/// A feedback comment: at most 1000 characters after trimming; of the control characters
/// only newlines and tabs; empty (or only whitespace) is no comment.
pub const FEEDBACK: &str = concat!(
    "^[",
    ws!(),
    "]*(?:",
    edge!(),
    r"(?:[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]{0,998}",
    edge!(),
    ")?)?[",
    ws!(),
    "]*$"
);

/// The digits of a mobile number, with at most one separator (space, dash, dot or
/// parenthesis) before, between and after them. The extension also takes runs of
/// separators, as long as the number is at most 32 characters; one at a time keeps every
/// number this pattern allows within that length. Indian mobiles: 10 digits starting 6–9,
/// `0`-prefixed, or `91`/`+91`-prefixed; other countries: `+` and 8–15 digits.
macro_rules! phone_core {
    () => {
        concat!(
            r"(?:\+[ ().-]?(?:9[ ().-]?1[ ().-]?[6-9](?:[ ().-]?[0-9]){9}",
            r"|[1-8](?:[ ().-]?[0-9]){7,14}|9[ ().-]?[02-9](?:[ ().-]?[0-9]){6,13})",
            r"|[ ().-]?(?:0[ ().-]?|9[ ().-]?1[ ().-]?)?[6-9](?:[ ().-]?[0-9]){9})[ ().-]?"
        )
    };
}

/// A mobile number (required).
pub const PHONE: &str = concat!("^[", ws!(), "]*", phone_core!(), "[", ws!(), "]*$");

/// A mobile number where it may be left out: empty (or only whitespace) is no number.
pub const PHONE_OR_BLANK: &str = concat!("^[", ws!(), "]*(?:", phone_core!(), ")?[", ws!(), "]*$");

/// A clinic's short name, as the operator sends it (trimmed by the extension).
pub const SLUG: &str = concat!("^[", ws!(), "]*[a-z0-9][a-z0-9-]{1,62}[", ws!(), "]*$");

/// A clinic's short name in an address: exactly as stored.
pub const SLUG_IN_PATH: &str = "^[a-z0-9][a-z0-9-]{1,62}$";

/// A staff login's email as the extension takes it: one `@`, something before it, a dot
/// in the domain but not at its ends, no whitespace or control characters, at most 254
/// bytes. The extension also takes non-ASCII addresses; printable ASCII keeps the byte
/// count equal to `maxLength`'s character count.
pub const STAFF_EMAIL: &str = r"^[\x21-\x3F\x41-\x7E]+@[\x21-\x2D\x2F-\x3F\x41-\x7E](?:[\x21-\x3F\x41-\x7E]*\.[\x21-\x3F\x41-\x7E]*)[\x21-\x2D\x2F-\x3F\x41-\x7E]$";

/// Languages of the patients' pages and messages.
pub const LANGUAGES: [&str; 8] = ["en", "hi", "ta", "te", "mr", "bn", "kn", "gu"];

/// Clinic statuses.
pub const CLINIC_STATUSES: [&str; 4] = ["ACTIVE", "TRIAL", "SUSPENDED", "DISABLED"];

/// Staff queue actions.
pub const ACTIONS: [&str; 7] = ["NEXT", "SERVED", "SKIP", "RECALL", "CANCEL", "UNDO", "TRANSFER"];

/// A queue's name ("Dr. Mehta — General"): 1–80 characters after trimming, no control
/// characters.
pub const QUEUE_NAME: &str =
    concat!("^[", ws!(), "]*", edge!(), "(?:[^", cc!(), "]{0,78}", edge!(), ")?[", ws!(), "]*$");

/// A room's name ("Room 2"): 1–40 characters after trimming, no control characters.
pub const ROOM_NAME: &str =
    concat!("^[", ws!(), "]*", edge!(), "(?:[^", cc!(), "]{0,38}", edge!(), ")?[", ws!(), "]*$");

/// A queue's label prefix: 0–3 capital letters (after trimming); empty gives plain numbers.
pub const PREFIX: &str = concat!("^[", ws!(), "]*[A-Z]{0,3}[", ws!(), "]*$");

/// Roles a clinic's owner (or the operator) gives a clinic login.
pub const CLINIC_ROLES: [&str; 2] = ["STAFF", "OWNER"];

/// The most queues a room may be given in one request.
pub const MAX_ROOM_QUEUES: usize = 100;

/// The settings a clinic's owner may change (pg_ext/src/validate.rs OWNER_KEYS); the
/// others (limits, the plan) are the operator's.
pub const OWNER_SETTINGS: [&str; 7] = [
    "whatsapp_enabled",
    "qr_intake_enabled",
    "eta_min_minutes",
    "eta_max_minutes",
    "stall_warning_minutes",
    "reminder_at_position",
    "default_language",
];

/// Outbox message statuses.
pub const MESSAGE_STATUSES: [&str; 7] =
    ["PENDING", "SENT", "DELIVERED", "READ", "FAILED", "PERMANENTLY_FAILED", "SKIPPED"];

/// A Meta id (a WhatsApp phone number id, a business account id): 5–32 digits, trimmed
/// by the extension (pg_ext/src/senders.rs).
pub const META_ID: &str = concat!("^[", ws!(), "]*[0-9]{5,32}[", ws!(), "]*$");

/// A business account in an address: exactly as stored, or `installation` (the account of
/// the installation's own number).
pub const WABA_IN_PATH: &str = "^(?:installation|[0-9]{5,32})$";

/// The longest access token the server seals (Meta's are a few hundred characters; the
/// sealed value must stay within the extension's 8,192 bytes).
pub const MAX_ACCESS_TOKEN: usize = 4096;

/// An access token: visible ASCII without spaces (what Meta issues), trimmed by the server.
pub const ACCESS_TOKEN: &str = concat!("^[", ws!(), "]*[\\x21-\\x7E]{1,4096}[", ws!(), "]*$");

/// The daily recipient cap an account may be given (pg_ext/src/senders.rs).
pub const MAX_RECIPIENT_LIMIT: i64 = 1_000_000;

/// Time zones the document offers. The extension takes any zone PostgreSQL knows
/// (`pg_timezone_names`, which depends on the installed tz database); these are the ones
/// a client can count on.
pub const TIME_ZONES: [&str; 12] = [
    "Asia/Kolkata",
    "Asia/Calcutta",
    "Asia/Colombo",
    "Asia/Dhaka",
    "Asia/Dubai",
    "Asia/Kathmandu",
    "Asia/Karachi",
    "Asia/Singapore",
    "Europe/London",
    "America/New_York",
    "Etc/UTC",
    "UTC",
];

/// The settings keys with their ranges (pg_ext/src/validate.rs KEYS).
const INT_SETTINGS: [(&str, i64, i64, &str); 9] = [
    ("daily_token_limit", 1, 10_000, "Tokens a clinic gives out per day (QR and API; the desk is not limited)."),
    ("daily_message_limit", 0, 100_000, "WhatsApp messages per day."),
    ("max_tokens_per_phone_per_day", 1, 50, "Tokens one mobile number may take per day (cancelled ones don't count)."),
    ("ip_tokens_per_10min", 1, 10_000, "QR tokens from one address in 10 minutes."),
    ("kiosk_tokens_per_10min", 1, 10_000, "Tokens one kiosk at the door may take in 10 minutes."),
    (
        "eta_min_minutes",
        1,
        240,
        "Minutes per patient ahead, low end, until 5 visits were timed today; at most eta_max_minutes.",
    ),
    ("eta_max_minutes", 1, 240, "Minutes per patient ahead, high end; at least eta_min_minutes."),
    ("stall_warning_minutes", 1, 240, "Warn the desk when patients wait and nothing happened for this long."),
    ("reminder_at_position", 0, 50, "Remind a patient by WhatsApp at this place in the queue (0: no reminders)."),
];

fn string(nullable: bool) -> ObjectBuilder {
    if nullable {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
    } else {
        ObjectBuilder::new().schema_type(Type::String)
    }
}

fn patterned(pattern: &str, nullable: bool, description: &str) -> Object {
    string(nullable).pattern(Some(pattern)).description(Some(description)).build()
}

/// Values of a closed list; `null` too when the field may be null, and `""` where the
/// server reads an empty value as "not given".
fn one_of(values: &[&str], nullable: bool, blank: bool, description: &str) -> Object {
    let mut list: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
    if blank {
        list.push(Value::from(""));
    }
    if nullable {
        list.push(Value::Null);
    }
    string(nullable).enum_values(Some(list)).description(Some(description)).build()
}

pub fn patient_name() -> Object {
    patterned(PATIENT_NAME, false, "1–80 characters after trimming, no control characters.")
}

pub fn patient_phone() -> Object {
    patterned(
        PHONE,
        false,
        "A mobile number: Indian as 10 digits (starting 6–9), `0`-, `91`- or `+91`-prefixed; \
         other countries as `+` and 8–15 digits. Spaces, dashes, dots and parentheses may \
         separate the digits.",
    )
}

pub fn optional_phone() -> Object {
    patterned(PHONE_OR_BLANK, true, "A mobile number as for patients; null or empty for none.")
}

pub fn language() -> Object {
    one_of(
        &LANGUAGES,
        true,
        true,
        "en, hi, ta, te, mr, bn, kn or gu; null or empty: the default (Accept-Language, then the clinic's).",
    )
}

pub fn action() -> Object {
    one_of(
        &ACTIONS,
        false,
        false,
        "NEXT and UNDO take no token_id; RECALL, CANCEL and TRANSFER need one; TRANSFER also needs target_queue_id.",
    )
}

pub fn queue_name() -> Object {
    patterned(QUEUE_NAME, false, "1–80 characters after trimming, no control characters.")
}

pub fn optional_queue_name() -> Object {
    patterned(QUEUE_NAME, true, "1–80 characters after trimming, no control characters; null: unchanged.")
}

pub fn room_name() -> Object {
    patterned(ROOM_NAME, false, "1–40 characters after trimming, no control characters.")
}

pub fn optional_room_name() -> Object {
    patterned(ROOM_NAME, true, "1–40 characters after trimming, no control characters; null: unchanged.")
}

pub fn prefix() -> Object {
    patterned(
        PREFIX,
        true,
        "0–3 capital letters: labels read A-12; empty: plain numbers. null: empty (create), unchanged (update).",
    )
}

pub fn sort_order() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .minimum(Some(0))
        .maximum(Some(1000))
        .description(Some("Place in the clinic's list, 0–1000; null: unchanged."))
        .build()
}

fn uuid_items(nullable: bool, description: &str) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::ArrayBuilder;
    let types = if nullable { SchemaType::from_iter([Type::Array, Type::Null]) } else { Type::Array.into() };
    ArrayBuilder::new()
        .schema_type(types)
        .items(
            ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        )
        .min_items(Some(1))
        .max_items(Some(MAX_ROOM_QUEUES))
        .description(Some(description))
        .build()
}

pub fn room_queue_ids() -> utoipa::openapi::schema::Array {
    uuid_items(false, "The clinic's queues the room calls from (at least one).")
}

pub fn optional_room_queue_ids() -> utoipa::openapi::schema::Array {
    uuid_items(true, "Replaces the queues the room calls from (at least one); null: unchanged.")
}

pub fn clinic_role() -> Object {
    one_of(&CLINIC_ROLES, false, false, "STAFF works the desk; OWNER also manages the clinic.")
}

pub fn login_email_new() -> Object {
    string(false).pattern(Some(STAFF_EMAIL)).max_length(Some(254)).description(Some("The new login's email.")).build()
}

pub fn delay_note() -> Object {
    patterned(DELAY_NOTE, true, "At most 200 characters after trimming, on one line; null or empty: no note.")
}

pub fn feedback() -> Object {
    patterned(
        FEEDBACK,
        true,
        "At most 1000 characters after trimming; newlines and tabs allowed, no other control characters.",
    )
}

pub fn rating() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(5))
        .description(Some("1 to 5"))
        .build()
}

pub fn slug() -> Object {
    string(false)
        .pattern(Some(SLUG))
        .description(Some("2–63 lowercase letters, digits and dashes, starting with a letter or digit."))
        .build()
}

pub fn clinic_name() -> Object {
    patterned(CLINIC_NAME, false, "1–120 characters after trimming, no control characters.")
}

pub fn optional_clinic_name() -> Object {
    patterned(CLINIC_NAME, true, "1–120 characters after trimming, no control characters; null: unchanged.")
}

pub fn timezone() -> Object {
    one_of(&TIME_ZONES, true, false, "An IANA time zone; null: Asia/Kolkata (create) or unchanged (update).")
}

pub fn create_status() -> Object {
    one_of(&CLINIC_STATUSES, true, false, "null: ACTIVE.")
}

pub fn update_status() -> Object {
    one_of(&CLINIC_STATUSES, true, false, "null: unchanged.")
}

pub fn address() -> Object {
    patterned(ADDRESS, true, "At most 300 characters after trimming, no control characters; null or empty: none.")
}

pub fn staff_email() -> Object {
    string(false)
        .pattern(Some(STAFF_EMAIL))
        .max_length(Some(254))
        .description(Some("The clinic's first staff login."))
        .build()
}

pub fn new_password() -> Object {
    string(false)
        .min_length(Some(crate::accounts::MIN_PASSWORD_LEN))
        .max_length(Some(1024))
        .description(Some("At least 8 characters, at most 1024 bytes."))
        .build()
}

pub fn phone_number_id() -> Object {
    patterned(META_ID, false, "The sender's WhatsApp phone number id (Meta's, 5–32 digits), not the number itself.")
}

pub fn waba_id() -> Object {
    patterned(META_ID, false, "The WhatsApp business account (WABA) id the number belongs to (5–32 digits).")
}

pub fn display_number() -> Object {
    patterned(
        PHONE,
        false,
        "The number patients see and write to, as for patients' numbers (stored as E.164: +919812345678).",
    )
}

pub fn access_token() -> Object {
    string(true)
        .pattern(Some(ACCESS_TOKEN))
        .description(Some(
            "The number's own permanent access token (a System User's), sealed with QLINK_SECRET_KEY before it is \
             stored and never returned; null or left out: the stored one is kept (the installation's is used while \
             there is none). Refused (409 secret_key_missing) when the server has no QLINK_SECRET_KEY.",
        ))
        .build()
}

pub fn recipient_limit() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_RECIPIENT_LIMIT))
        .description(Some(
            "Unique recipients of template messages per rolling 24 hours, as Meta's messaging tier allows \
             (250, 2,000, 10,000, 100,000, or unlimited).",
        ))
        .build()
}

pub fn login_email() -> Object {
    string(false).format(Some(SchemaFormat::KnownFormat(KnownFormat::Email))).max_length(Some(254)).build()
}

pub fn login_password() -> Object {
    // The server refuses only an empty password or one over 1024 bytes; any other wrong
    // one is a plain 401, so the shorter bound costs no real login.
    string(false).min_length(Some(1)).max_length(Some(256)).build()
}

pub fn message_status() -> Object {
    one_of(&MESSAGE_STATUSES, false, true, "Only messages of this status; empty or left out: all.")
}

/// A clinic's settings: the known keys with their types and ranges, nothing else. Given to
/// an update, only the keys present change, and the result is validated as a whole:
/// `eta_min_minutes` must not be larger than `eta_max_minutes`, which JSON Schema cannot say.
pub fn settings(nullable: bool, description: &str) -> Object {
    settings_of(&|_| true, nullable, description)
}

fn settings_of(keep: &dyn Fn(&str) -> bool, nullable: bool, description: &str) -> Object {
    let types = if nullable { SchemaType::from_iter([Type::Object, Type::Null]) } else { Type::Object.into() };
    let mut b = ObjectBuilder::new()
        .schema_type(types)
        .additional_properties(Some(AdditionalProperties::<utoipa::openapi::Schema>::FreeForm(false)))
        .description(Some(description));
    for key in ["whatsapp_enabled", "qr_intake_enabled"].into_iter().filter(|k| keep(k)) {
        b = b.property(key, ObjectBuilder::new().schema_type(Type::Boolean));
    }
    for (key, lo, hi, what) in INT_SETTINGS.into_iter().filter(|s| keep(s.0)) {
        b = b.property(
            key,
            ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(lo)).maximum(Some(hi)).description(Some(what)),
        );
    }
    if keep("default_language") {
        b = b.property("default_language", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(LANGUAGES)));
    }
    b.build()
}

/// The settings a clinic's owner may change, as a patch (any other key is refused: 403
/// `owner_setting_forbidden`).
pub fn owner_settings_patch() -> Object {
    settings_of(
        &|k| OWNER_SETTINGS.contains(&k),
        false,
        "A patch of the settings the clinic's owner may change: only the keys given change, and the result is \
         validated as a whole.",
    )
}

pub fn new_settings() -> Object {
    settings(true, "Settings other than the defaults (null or {}: all defaults).")
}

pub fn settings_patch() -> Object {
    settings(true, "A patch: only the keys given change, and the result is validated as a whole; null: unchanged.")
}

/// A whole number for an `integer` field, also when it comes as `4.0`: JSON Schema (and so
/// the document) calls that the same integer, and clients that keep numbers as floats send
/// it so. A fraction, or a number out of range, is refused as before.
pub fn whole_i32<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    use serde::de::{Deserialize, Error};
    let n = serde_json::Number::deserialize(deserializer)?;
    whole(&n)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| D::Error::custom(format!("invalid value: {n}, expected a whole number")))
}

fn whole(n: &serde_json::Number) -> Option<i64> {
    match n.as_i64() {
        Some(i) => Some(i),
        None => n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 2f64.powi(53)).map(|f| f as i64),
    }
}

/// Settings with every whole float (`30.0`) written as the integer it is, for the same
/// reason as [`whole_i32`]: the extension reads settings' numbers as integers only.
pub fn whole_settings(settings: Option<Value>) -> Option<Value> {
    match settings {
        Some(Value::Object(map)) => Some(Value::Object(
            map.into_iter()
                .map(|(k, v)| match &v {
                    Value::Number(n) if !n.is_i64() && !n.is_u64() => match whole(n) {
                        Some(i) => (k, Value::from(i)),
                        None => (k, v),
                    },
                    _ => (k, v),
                })
                .collect(),
        )),
        other => other,
    }
}

// Reports, usage and billing (SPEC §10).

/// A day of a report: `YYYY-MM-DD`, a real date of 2000–2099.
pub const REPORT_DATE: &str = r"^20[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$";

/// A month of a statement: `YYYY-MM`, 2000–2099.
pub const REPORT_MONTH: &str = r"^20[0-9]{2}-(?:0[1-9]|1[0-2])$";

/// A plan's code in an address: exactly as stored.
pub const PLAN_CODE: &str = "^[a-z0-9][a-z0-9_-]{0,31}$";

/// A plan's code as a body sends it (the extension's `invalid_plan_code` rule, after
/// trimming).
pub const PLAN_CODE_BODY: &str = concat!("^[", ws!(), "]*[a-z0-9][a-z0-9_-]{0,31}[", ws!(), "]*$");

/// The largest amount of money a plan may name, in paise (₹100 crore), and the largest
/// allowance (the extension's `invalid_price` rule).
pub const MAX_PAISE: i64 = 10_000_000_000;
pub const MAX_ALLOWANCE: i64 = 1_000_000_000;

/// What a report answers: JSON, or one of its tables as CSV.
pub const REPORT_FORMATS: [&str; 2] = ["json", "csv"];

/// The tables of a clinic's report, and of the platform's.
pub const CLINIC_REPORT_TABLES: [&str; 2] = ["days", "hourly"];
pub const PLATFORM_REPORT_TABLES: [&str; 2] = ["clinics", "trend"];

pub fn report_date() -> Object {
    string(false)
        .pattern(Some(REPORT_DATE))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .description(Some("A clinic-local day, YYYY-MM-DD (2000–2099)."))
        .build()
}

pub fn report_from() -> Object {
    string(false)
        .pattern(Some(REPORT_DATE))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .description(Some(
            "First day, YYYY-MM-DD (default: 29 days before `to`). At most `to`, and the range at most 1,096 days.",
        ))
        .build()
}

pub fn report_to() -> Object {
    string(false)
        .pattern(Some(REPORT_DATE))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .description(Some("Last day, YYYY-MM-DD (default: today, clinic-local)."))
        .build()
}

pub fn report_month() -> Object {
    string(false)
        .pattern(Some(REPORT_MONTH))
        .description(Some("A month, YYYY-MM (default: the current one). Not after the current month."))
        .build()
}

pub fn report_format() -> Object {
    one_of(&REPORT_FORMATS, false, false, "json (default), or csv: one table as a CSV download.")
}

pub fn clinic_report_table() -> Object {
    one_of(&CLINIC_REPORT_TABLES, false, false, "With format=csv: days (default) or hourly.")
}

pub fn platform_report_table() -> Object {
    one_of(&PLATFORM_REPORT_TABLES, false, false, "With format=csv: clinics (default) or trend.")
}

pub fn plan_code() -> Object {
    string(false)
        .pattern(Some(PLAN_CODE_BODY))
        .description(Some("1–32 lowercase letters, digits, _ and -, starting with a letter or digit."))
        .build()
}

pub fn plan_name() -> Object {
    patterned(QUEUE_NAME, false, "1–80 characters after trimming, no control characters.")
}

pub fn optional_plan_name() -> Object {
    patterned(QUEUE_NAME, true, "1–80 characters after trimming, no control characters; null: unchanged.")
}

fn bounded(nullable: bool, max: i64, description: &str) -> Object {
    let types = if nullable { SchemaType::from_iter([Type::Integer, Type::Null]) } else { Type::Integer.into() };
    ObjectBuilder::new().schema_type(types).minimum(Some(0)).maximum(Some(max)).description(Some(description)).build()
}

pub fn paise() -> Object {
    bounded(false, MAX_PAISE, "Integer paise (₹1 = 100 paise), 0 or more.")
}

pub fn optional_paise() -> Object {
    bounded(true, MAX_PAISE, "Integer paise (₹1 = 100 paise), 0 or more; null: unchanged.")
}

pub fn allowance() -> Object {
    bounded(false, MAX_ALLOWANCE, "Included in the monthly fee, 0 or more.")
}

pub fn optional_allowance() -> Object {
    bounded(true, MAX_ALLOWANCE, "Included in the monthly fee, 0 or more; null: unchanged.")
}

/// A whole number for a 64-bit `integer` field, also when it comes as `4.0` (see
/// [`whole_i32`]).
pub fn whole_i64<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::{Deserialize, Error};
    let n = serde_json::Number::deserialize(deserializer)?;
    whole(&n).ok_or_else(|| D::Error::custom(format!("invalid value: {n}, expected a whole number")))
}

/// [`whole_i32`] where the field may be null or left out.
pub fn whole_opt_i32<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
    use serde::Deserialize;
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_i32")] i32);
    Ok(Option::<Whole>::deserialize(deserializer)?.map(|w| w.0))
}

/// [`whole_i64`] where the field may be null or left out.
pub fn whole_opt_i64<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_i64")] i64);
    Ok(Option::<Whole>::deserialize(deserializer)?.map(|w| w.0))
}
