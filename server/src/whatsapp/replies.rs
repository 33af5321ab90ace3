//! The free-form replies to what a patient wrote (message type REPLY): the extension
//! decides what happened (`qlink.handle_inbound` puts it in the row's `payload`: `kind`,
//! `reason`, the token's facts) and the worker only words it, in the row's language, from
//! the same catalogues as the pages (`reply_*` in locales/patient/*.ftl). A reply is short: the patient is reading it on a phone in a
//! waiting room; the tracking link carries the details.

use crate::i18n::{Lang, K};
use serde_json::Value;

fn fill(language: Lang, key: K, args: &[(&str, &str)]) -> String {
    language.tf(key, args)
}

fn text_field<'a>(payload: &'a Value, name: &str) -> Option<&'a str> {
    payload.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn int_field(payload: &Value, name: &str) -> Option<i64> {
    payload.get(name).and_then(Value::as_i64)
}

/// The reply's text; an error is permanent (a payload this worker cannot word).
pub fn reply_text(payload: &Value, language: Lang, public_url: &str) -> Result<String, String> {
    let kind = text_field(payload, "kind").ok_or("the reply payload has no kind")?;
    // "Sharma Clinic: …"; a reply from a number that speaks for no clinic yet says "QLink".
    let clinic = text_field(payload, "clinic_name").unwrap_or("QLink");
    let label = text_field(payload, "token_label").unwrap_or("");
    let l = language;
    let mut parts: Vec<String> = Vec::new();
    let queue_facts = |parts: &mut Vec<String>| {
        match int_field(payload, "people_ahead") {
            Some(0) => parts.push(fill(l, K::reply_next, &[])),
            Some(n) if n > 0 => parts.push(fill(l, K::reply_ahead, &[("n", &n.to_string())])),
            _ => {}
        }
        if let (Some(lo), Some(hi)) = (int_field(payload, "eta_min_minutes"), int_field(payload, "eta_max_minutes")) {
            parts.push(fill(l, K::reply_eta, &[("lo", &lo.to_string()), ("hi", &hi.to_string())]));
        }
    };
    let with_token = [("clinic", clinic), ("label", label)];
    match kind {
        "joined" => {
            parts.push(fill(l, K::reply_joined, &with_token));
            queue_facts(&mut parts);
        }
        "status" => match text_field(payload, "status").unwrap_or("WAITING") {
            "SERVING" => match text_field(payload, "room_name") {
                Some(room) => {
                    parts.push(fill(l, K::reply_serving_room, &[("clinic", clinic), ("label", label), ("room", room)]))
                }
                None => parts.push(fill(l, K::reply_serving, &with_token)),
            },
            "SERVED" => parts.push(fill(l, K::reply_served, &with_token)),
            "SKIPPED" => parts.push(fill(l, K::reply_skipped, &with_token)),
            "CANCELLED" => parts.push(fill(l, K::reply_was_cancelled, &with_token)),
            _ => {
                parts.push(fill(l, K::reply_waiting, &with_token));
                queue_facts(&mut parts);
            }
        },
        "cancelled" => parts.push(fill(l, K::reply_cancelled, &with_token)),
        "not_cancellable" => parts.push(fill(l, K::reply_not_cancellable, &with_token)),
        "no_token" => parts.push(fill(l, K::reply_no_token, &[])),
        "held" => {
            let minutes = int_field(payload, "hold_minutes").unwrap_or(0).to_string();
            parts.push(fill(l, K::reply_held, &[("clinic", clinic), ("label", label), ("minutes", &minutes)]))
        }
        "hold_refused" => match text_field(payload, "reason").unwrap_or("") {
            "holds_disabled" => parts.push(fill(l, K::reply_holds_off, &[("clinic", clinic)])),
            // Stepped out already: the place is kept, as the first LATE said.
            "already_held" => parts.push(fill(
                l,
                K::reply_held,
                &[
                    ("clinic", clinic),
                    ("label", label),
                    ("minutes", &int_field(payload, "hold_minutes").unwrap_or(0).to_string()),
                ],
            )),
            _ => parts.push(fill(l, K::reply_hold_refused, &with_token)),
        },
        "returned" => {
            let key = if text_field(payload, "return_outcome") == Some("front") {
                K::reply_returned_front
            } else {
                K::reply_returned
            };
            parts.push(fill(l, key, &with_token));
            queue_facts(&mut parts);
        }
        "return_refused" => match text_field(payload, "reason").unwrap_or("") {
            "hold_expired" => parts.push(fill(l, K::reply_hold_expired, &with_token)),
            _ => parts.push(fill(l, K::reply_not_held, &with_token)),
        },
        "stopped" if payload.get("clinic_name").is_some_and(Value::is_string) => {
            parts.push(fill(l, K::reply_stopped, &[("clinic", clinic)]))
        }
        "stopped" => parts.push(fill(l, K::reply_stopped_any, &[])),
        "started" if payload.get("clinic_name").is_some_and(Value::is_string) => {
            parts.push(fill(l, K::reply_started, &[("clinic", clinic)]))
        }
        "started" => parts.push(fill(l, K::reply_started_any, &[])),
        "help" => parts.push(fill(l, K::reply_help, &[])),
        "refused" => {
            let why = match text_field(payload, "reason").unwrap_or("") {
                "unknown_clinic" => K::reply_why_unknown_clinic,
                "no_phone" => K::reply_why_no_phone,
                "business_suspended" | "clinic_suspended" | "clinic_disabled" | "qr_intake_off" => {
                    K::reply_why_not_taking
                }
                "session_closed" => K::reply_why_closed,
                "phone_limit" => K::reply_why_phone_limit,
                "daily_token_limit" => K::reply_why_daily_limit,
                "queue_required" => K::reply_why_choose_line,
                "queue_not_found" => K::reply_why_no_line,
                _ => K::reply_why_other,
            };
            let mut text = fill(l, K::reply_refused, &[("why", &fill(l, why, &[]))]);
            if why == K::reply_why_choose_line {
                let choices = payload.get("choices").and_then(Value::as_array).into_iter().flatten();
                for choice in choices.filter_map(Value::as_str) {
                    text.push_str(&format!("\nJOIN {choice}"));
                }
            }
            parts.push(text);
        }
        other => return Err(format!("unknown reply kind {other:?}")),
    }
    let mut text = parts.join(" ");
    if let Some(token_id) = text_field(payload, "token_id") {
        let link = format!("{}/t/{token_id}", public_url.trim_end_matches('/'));
        text.push('\n');
        text.push_str(&fill(l, K::reply_track, &[("link", &link)]));
    }
    Ok(text)
}

/// Every kind `qlink.handle_inbound` queues a reply for.
pub const KINDS: &[&str] = &[
    "joined",
    "refused",
    "status",
    "no_token",
    "cancelled",
    "not_cancellable",
    "held",
    "hold_refused",
    "returned",
    "return_refused",
    "stopped",
    "started",
    "help",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_is_worded_in_both_languages_with_the_link() {
        for kind in KINDS {
            for l in Lang::ALL {
                let payload = json!({"kind": kind, "clinic_name": "Sharma Clinic", "token_label": "A-12",
                    "token_id": "5b0d7c1e-6d2f-4a57-9a59-3f1c2b7e8a10", "people_ahead": 3, "reason": "phone_limit",
                    "eta_min_minutes": 10, "eta_max_minutes": 25, "status": "WAITING"});
                let text = reply_text(&payload, l, "https://q.example/").unwrap();
                assert!(text.ends_with("https://q.example/t/5b0d7c1e-6d2f-4a57-9a59-3f1c2b7e8a10"), "{text}");
                assert!(!text.contains('{'), "{kind} {l:?}: {text}");
                // A phone screen's worth (WhatsApp itself takes 4,096): the help, the longest,
                // lists every command in the language's own word and in English.
                assert!(text.chars().count() < 500, "{kind} {l:?}: {text}");
            }
        }
    }

    #[test]
    fn replies_say_what_happened() {
        let joined = json!({"kind": "joined", "clinic_name": "Sharma Clinic", "token_label": "7", "people_ahead": 0,
            "eta_min_minutes": null, "token_id": "t1"});
        assert_eq!(
            reply_text(&joined, Lang::En, "http://h").unwrap(),
            "Sharma Clinic: you are in the queue. Your token is 7. You are next.\nLive: http://h/t/t1"
        );
        let help = reply_text(&json!({"kind": "help", "clinic_name": null}), Lang::Hi, "http://h").unwrap();
        assert!(help.contains("जुड़ें") && help.contains("STOP") && !help.contains("Live"), "{help}");
        let lines = json!({"kind": "refused", "reason": "queue_required", "choices": ["sharma/A (General)"]});
        let text = reply_text(&lines, Lang::En, "http://h").unwrap();
        assert!(text.ends_with("Send one of:\nJOIN sharma/A (General)"), "{text}");
        let serving = json!({"kind": "status", "status": "SERVING", "clinic_name": "C", "token_label": "A-1",
            "room_name": "Room 2"});
        assert!(reply_text(&serving, Lang::En, "http://h").unwrap().contains("Please go to Room 2."));
        assert!(reply_text(&json!({"kind": "surprise"}), Lang::En, "http://h").is_err());
        assert!(reply_text(&json!({}), Lang::En, "http://h").is_err());
    }
}
