//! Pure input rules: names, phone numbers, languages, settings. No database access, so
//! they are unit-tested with plain `#[test]`s as well as through the SQL functions.

use crate::error::{refuse, refused, QResult, Reason};
use serde_json::{Map, Value};

/// Patients' languages (SPEC §12): English, Hindi, Tamil, Telugu, Marathi, Bengali, Kannada,
/// Gujarati.
pub const LANGUAGES: [&str; 8] = ["en", "hi", "ta", "te", "mr", "bn", "kn", "gu"];

fn language_list() -> String {
    LANGUAGES.join(", ")
}

/// A patient's name: 1–80 characters after trimming, no control characters.
pub fn patient_name(raw: Option<&str>) -> QResult<String> {
    let name = raw.unwrap_or("").trim();
    if name.is_empty() {
        return Err(refuse(Reason::InvalidName, "Please enter the patient's name."));
    }
    if name.chars().count() > 80 {
        return Err(refuse(Reason::InvalidName, "The name is too long (at most 80 characters)."));
    }
    if name.chars().any(char::is_control) {
        return Err(refuse(Reason::InvalidName, "The name contains characters that are not allowed."));
    }
    Ok(name.to_string())
}

/// A mobile number, normalised to E.164. Indian mobiles may be typed as 10 digits,
/// `0`-prefixed, or `91`/`+91`-prefixed; other countries need a leading `+`.
pub fn phone(raw: &str) -> QResult<String> {
    let bad = || refused(Reason::InvalidPhone);
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 32 {
        return Err(bad());
    }
    let plus = trimmed.starts_with('+');
    let body = if plus { &trimmed[1..] } else { trimmed };
    let mut digits = String::with_capacity(body.len());
    for ch in body.chars() {
        match ch {
            '0'..='9' => digits.push(ch),
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return Err(bad()),
        }
    }
    let indian = |ten: &str| -> QResult<String> {
        if ten.len() == 10 && matches!(ten.as_bytes()[0], b'6'..=b'9') {
            Ok(format!("+91{ten}"))
        } else {
            Err(bad())
        }
    };
    if plus {
        if let Some(rest) = digits.strip_prefix("91") {
            return indian(rest);
        }
        if (8..=15).contains(&digits.len()) && !digits.starts_with('0') {
            return Ok(format!("+{digits}"));
        }
        return Err(bad());
    }
    match digits.len() {
        10 => indian(&digits),
        11 if digits.starts_with('0') => indian(&digits[1..]),
        12 if digits.starts_with("91") => indian(&digits[2..]),
        _ => Err(bad()),
    }
}

pub fn language(raw: &str) -> QResult<String> {
    let lang = raw.trim().to_ascii_lowercase();
    if LANGUAGES.contains(&lang.as_str()) {
        Ok(lang)
    } else {
        Err(refuse(
            Reason::InvalidLanguage,
            format!("Unsupported language \"{raw}\" (use one of {}).", language_list()),
        ))
    }
}

/// Free-text feedback: at most 1000 characters; newlines and tabs allowed.
pub fn feedback(raw: Option<&str>) -> QResult<Option<String>> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > 1000 {
        return Err(refuse(Reason::InvalidFeedback, "The comment is too long (at most 1000 characters)."));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(refuse(Reason::InvalidFeedback, "The comment contains characters that are not allowed."));
    }
    Ok(Some(text.to_string()))
}

/// A clinic's settings with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub whatsapp_enabled: bool,
    pub qr_intake_enabled: bool,
    pub daily_token_limit: i64,
    pub daily_message_limit: i64,
    pub max_tokens_per_phone_per_day: i64,
    pub ip_tokens_per_10min: i64,
    /// Tokens one kiosk may take in 10 minutes (it stands in for every patient at the door).
    pub kiosk_tokens_per_10min: i64,
    pub eta_min_minutes: i64,
    pub eta_max_minutes: i64,
    pub stall_warning_minutes: i64,
    pub reminder_at_position: i64,
    pub default_language: String,
    /// How long a patient may step out (SPEC §12); 0: they cannot.
    pub hold_minutes: i64,
    /// Whether waiting patients get a DELAY message when staff announce a delay.
    pub notify_delays: bool,
    /// The languages the lobby display rotates through, in order.
    pub display_languages: Vec<String>,
}

pub enum Kind {
    Bool,
    Int(i64, i64),
    Lang,
    /// 1–8 distinct languages, in order.
    Langs,
}

/// Every known key with its type and allowed range: the one table that validation,
/// `qlink.settings_schema()` and through it the operator's settings form read.
pub const KEYS: [(&str, Kind); 15] = [
    ("whatsapp_enabled", Kind::Bool),
    ("qr_intake_enabled", Kind::Bool),
    ("daily_token_limit", Kind::Int(1, 10_000)),
    ("daily_message_limit", Kind::Int(0, 100_000)),
    ("max_tokens_per_phone_per_day", Kind::Int(1, 50)),
    ("ip_tokens_per_10min", Kind::Int(1, 10_000)),
    ("kiosk_tokens_per_10min", Kind::Int(1, 10_000)),
    ("eta_min_minutes", Kind::Int(1, 240)),
    ("eta_max_minutes", Kind::Int(1, 240)),
    ("stall_warning_minutes", Kind::Int(1, 240)),
    ("reminder_at_position", Kind::Int(0, 50)),
    ("default_language", Kind::Lang),
    ("hold_minutes", Kind::Int(0, 120)),
    ("notify_delays", Kind::Bool),
    ("display_languages", Kind::Langs),
];

/// The settings a clinic's owner may change (SPEC §9): how the clinic works, not the
/// limits the operator sets (tokens, messages, abuse) nor the plan.
pub const OWNER_KEYS: [&str; 10] = [
    "whatsapp_enabled",
    "qr_intake_enabled",
    "eta_min_minutes",
    "eta_max_minutes",
    "stall_warning_minutes",
    "reminder_at_position",
    "default_language",
    "hold_minutes",
    "notify_delays",
    "display_languages",
];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            whatsapp_enabled: true,
            qr_intake_enabled: true,
            daily_token_limit: 200,
            daily_message_limit: 300,
            max_tokens_per_phone_per_day: 1,
            ip_tokens_per_10min: 3,
            kiosk_tokens_per_10min: 30,
            eta_min_minutes: 6,
            eta_max_minutes: 15,
            stall_warning_minutes: 5,
            reminder_at_position: 2,
            default_language: "en".into(),
            hold_minutes: 20,
            notify_delays: false,
            display_languages: vec!["en".into(), "hi".into()],
        }
    }
}

impl Settings {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "whatsapp_enabled": self.whatsapp_enabled,
            "qr_intake_enabled": self.qr_intake_enabled,
            "daily_token_limit": self.daily_token_limit,
            "daily_message_limit": self.daily_message_limit,
            "max_tokens_per_phone_per_day": self.max_tokens_per_phone_per_day,
            "ip_tokens_per_10min": self.ip_tokens_per_10min,
            "kiosk_tokens_per_10min": self.kiosk_tokens_per_10min,
            "eta_min_minutes": self.eta_min_minutes,
            "eta_max_minutes": self.eta_max_minutes,
            "stall_warning_minutes": self.stall_warning_minutes,
            "reminder_at_position": self.reminder_at_position,
            "default_language": self.default_language,
            "hold_minutes": self.hold_minutes,
            "notify_delays": self.notify_delays,
            "display_languages": self.display_languages,
        })
    }

    /// Reads stored settings. Stored values were validated on the way in; a key missing
    /// from an older row takes its default.
    pub fn from_stored(stored: &Value) -> Settings {
        let mut s = Settings::default();
        if let Value::Object(map) = stored {
            // Ignore anything unexpected rather than fail a patient's request.
            let _ = s.apply(map);
        }
        s
    }

    /// Validates a patch (unknown keys and wrong types are rejected) and applies it.
    pub fn patched(&self, patch: &Value) -> QResult<Settings> {
        let Value::Object(map) = patch else {
            return Err(refuse(Reason::InvalidSetting, "Settings must be a JSON object."));
        };
        let mut next = self.clone();
        next.apply(map)?;
        if next.eta_min_minutes > next.eta_max_minutes {
            return Err(refuse(
                Reason::InvalidSetting,
                "Setting \"eta_min_minutes\" must not be larger than \"eta_max_minutes\".",
            ));
        }
        Ok(next)
    }

    fn apply(&mut self, map: &Map<String, Value>) -> QResult<()> {
        for (key, value) in map {
            let Some((_, kind)) = KEYS.iter().find(|(k, _)| k == key) else {
                return Err(refuse(Reason::UnknownSetting, format!("Unknown setting \"{key}\".")));
            };
            match kind {
                Kind::Bool => {
                    let Some(b) = value.as_bool() else {
                        return Err(refuse(
                            Reason::InvalidSetting,
                            format!("Setting \"{key}\" must be true or false."),
                        ));
                    };
                    match key.as_str() {
                        "whatsapp_enabled" => self.whatsapp_enabled = b,
                        "notify_delays" => self.notify_delays = b,
                        _ => self.qr_intake_enabled = b,
                    }
                }
                Kind::Int(lo, hi) => {
                    let n = value.as_i64().filter(|n| (*lo..=*hi).contains(n)).ok_or_else(|| {
                        refuse(
                            Reason::InvalidSetting,
                            format!("Setting \"{key}\" must be a whole number from {lo} to {hi}."),
                        )
                    })?;
                    match key.as_str() {
                        "daily_token_limit" => self.daily_token_limit = n,
                        "daily_message_limit" => self.daily_message_limit = n,
                        "max_tokens_per_phone_per_day" => self.max_tokens_per_phone_per_day = n,
                        "ip_tokens_per_10min" => self.ip_tokens_per_10min = n,
                        "kiosk_tokens_per_10min" => self.kiosk_tokens_per_10min = n,
                        "eta_min_minutes" => self.eta_min_minutes = n,
                        "eta_max_minutes" => self.eta_max_minutes = n,
                        "stall_warning_minutes" => self.stall_warning_minutes = n,
                        "hold_minutes" => self.hold_minutes = n,
                        _ => self.reminder_at_position = n,
                    }
                }
                Kind::Lang => {
                    let lang = value.as_str().filter(|l| LANGUAGES.contains(l)).ok_or_else(|| {
                        refuse(Reason::InvalidSetting, format!("Setting \"{key}\" must be one of {}.", language_list()))
                    })?;
                    self.default_language = lang.to_string();
                }
                Kind::Langs => {
                    let bad = || {
                        refuse(
                            Reason::InvalidSetting,
                            format!(
                                "Setting \"{key}\" must be a list of 1 to 8 different languages from {}.",
                                language_list()
                            ),
                        )
                    };
                    let items =
                        value.as_array().filter(|a| (1..=LANGUAGES.len()).contains(&a.len())).ok_or_else(bad)?;
                    let mut langs: Vec<String> = Vec::with_capacity(items.len());
                    for item in items {
                        let lang = item.as_str().filter(|l| LANGUAGES.contains(l)).ok_or_else(bad)?;
                        if langs.iter().any(|l| l == lang) {
                            return Err(bad());
                        }
                        langs.push(lang.to_string());
                    }
                    self.display_languages = langs;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn indian_mobiles_normalise() {
        for raw in ["9876543210", "09876543210", "919876543210", "+919876543210", "+91 98765-43210", " 98765 43210 "] {
            assert_eq!(phone(raw).unwrap(), "+919876543210", "{raw}");
        }
    }

    #[test]
    fn other_e164_accepted_with_plus() {
        assert_eq!(phone("+447911123456").unwrap(), "+447911123456");
        assert_eq!(phone("+1 (415) 555-2671").unwrap(), "+14155552671");
    }

    #[test]
    fn bad_phones_rejected() {
        for raw in [
            "",
            "12345",
            "5876543210",
            "+91587654321",
            "98765abc10",
            "+0123456789",
            "987654321012345678",
            "+9198765432100",
            "'; drop table x; --",
        ] {
            assert!(phone(raw).is_err(), "{raw} should be rejected");
        }
    }

    #[test]
    fn names() {
        assert_eq!(patient_name(Some("  Asha Rao ")).unwrap(), "Asha Rao");
        assert_eq!(patient_name(Some("आशा राव")).unwrap(), "आशा राव");
        assert!(patient_name(Some("   ")).is_err());
        assert!(patient_name(None).is_err());
        assert!(patient_name(Some(&"a".repeat(81))).is_err());
        assert!(patient_name(Some(&"आ".repeat(80))).is_ok());
        assert!(patient_name(Some("bad\u{0007}name")).is_err());
        assert!(patient_name(Some("two\nlines")).is_err());
    }

    #[test]
    fn settings_validation() {
        let s = Settings::default();
        let p = s.patched(&serde_json::json!({"daily_token_limit": 50, "default_language": "hi"})).unwrap();
        assert_eq!(p.daily_token_limit, 50);
        assert_eq!(p.default_language, "hi");
        assert!(s.patched(&serde_json::json!({"nope": 1})).unwrap_err().message().contains("Unknown setting"));
        assert!(s.patched(&serde_json::json!({"whatsapp_enabled": "yes"})).is_err());
        assert!(s.patched(&serde_json::json!({"daily_token_limit": 1.5})).is_err());
        assert!(s.patched(&serde_json::json!({"daily_token_limit": 0})).is_err());
        assert!(s.patched(&serde_json::json!({"eta_min_minutes": 30, "eta_max_minutes": 10})).is_err());
        assert!(s.patched(&serde_json::json!([1])).is_err());
        let p = s.patched(&serde_json::json!({"display_languages": ["ta", "en"], "hold_minutes": 0})).unwrap();
        assert_eq!(p.display_languages, ["ta", "en"]);
        assert_eq!(p.hold_minutes, 0);
        for bad in
            [serde_json::json!([]), serde_json::json!(["en", "en"]), serde_json::json!(["xx"]), serde_json::json!("en")]
        {
            assert!(s.patched(&serde_json::json!({"display_languages": bad})).is_err(), "{bad}");
        }
        assert!(s.patched(&serde_json::json!({"hold_minutes": 121})).is_err());
        assert_eq!(language(" TA ").unwrap(), "ta");
        assert!(language("fr").is_err());
        assert_eq!(Settings::from_stored(&s.to_json()), s);
    }
}
