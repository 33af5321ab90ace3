//! The free-form replies to what a patient wrote (message type REPLY): the extension
//! decides what happened (`qlink.handle_inbound` puts it in the row's `payload`: `kind`,
//! `reason`, the token's facts) and the worker only words it, in the row's language. Like
//! the pages' catalogue (pages/i18n.rs) every text is one entry with its English and Hindi,
//! placeholders `{name}`. A reply is short: the patient is reading it on a phone in a
//! waiting room; the tracking link carries the details.

use super::Language;
use serde_json::Value;

macro_rules! replies {
    ($($key:ident => $en:expr, $hi:expr;)*) => {
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum R { $($key),* }
        impl R {
            #[cfg(test)]
            pub(crate) const ALL: &'static [R] = &[$(R::$key),*];
            fn text(self, language: Language) -> &'static str {
                match (self, language) {
                    $((R::$key, Language::En) => $en, (R::$key, Language::Hi) => $hi,)*
                }
            }
        }
    };
}

replies! {
    joined => "{clinic}: you are in the queue. Your token is {label}.",
        "{clinic}: आप कतार में हैं। आपका टोकन {label} है।";
    ahead => "{n} ahead of you.", "आपसे आगे {n} लोग।";
    next => "You are next.", "अगली बारी आपकी है।";
    eta => "About {lo}–{hi} min.", "लगभग {lo}–{hi} मिनट।";
    waiting => "{clinic}: token {label} is waiting.", "{clinic}: टोकन {label} इंतज़ार में है।";
    serving => "{clinic}: token {label}, it is your turn now. Please go in.",
        "{clinic}: टोकन {label}, अब आपकी बारी है। कृपया अंदर जाएँ।";
    serving_room => "{clinic}: token {label}, it is your turn now. Please go to {room}.",
        "{clinic}: टोकन {label}, अब आपकी बारी है। कृपया {room} में जाएँ।";
    served => "{clinic}: token {label} has been seen. Thank you!", "{clinic}: टोकन {label} देख लिया गया। धन्यवाद!";
    skipped => "{clinic}: token {label} was skipped. Please ask at the reception.",
        "{clinic}: टोकन {label} छोड़ दिया गया। कृपया रिसेप्शन पर पूछें।";
    was_cancelled => "{clinic}: token {label} was cancelled.", "{clinic}: टोकन {label} रद्द हो चुका है।";
    cancelled => "{clinic}: token {label} is cancelled. Get well soon.",
        "{clinic}: टोकन {label} रद्द कर दिया गया। जल्दी स्वस्थ हों।";
    not_cancellable => "{clinic}: token {label} can no longer be cancelled. Please ask at the reception.",
        "{clinic}: टोकन {label} अब रद्द नहीं हो सकता। कृपया रिसेप्शन पर पूछें।";
    no_token => "You have no token today. To join, send JOIN and the clinic's code from its poster.",
        "आज आपका कोई टोकन नहीं है। जुड़ने के लिए क्लिनिक के पोस्टर वाला कोड लिखकर जुड़ें भेजें।";
    not_available => "That is not available yet. Send HELP for what you can do.",
        "यह सुविधा अभी उपलब्ध नहीं है। क्या कर सकते हैं, जानने के लिए मदद भेजें।";
    stopped => "You will get no more messages from {clinic}. Send START to turn them on again.",
        "अब आपको {clinic} से संदेश नहीं आएँगे। फिर से पाने के लिए शुरू भेजें।";
    stopped_any => "You will get no more messages from us. Send START to turn them on again.",
        "अब आपको हमारे संदेश नहीं आएँगे। फिर से पाने के लिए शुरू भेजें।";
    started => "Messages from {clinic} are on again.", "{clinic} के संदेश फिर से चालू हैं।";
    started_any => "Messages are on again.", "संदेश फिर से चालू हैं।";
    help => "Send:\nJOIN <code> – get a token (code on the clinic's poster)\nSTATUS – your place in the queue\nCANCEL – cancel your token\nSTOP – no more messages\nSTART – messages again\nHELP – this list",
        "भेजें:\nजुड़ें <कोड> (JOIN) – टोकन लें (कोड क्लिनिक के पोस्टर पर)\nस्थिति (STATUS) – कतार में आपकी जगह\nरद्द (CANCEL) – टोकन रद्द करें\nरोकें (STOP) – संदेश बंद\nशुरू (START) – संदेश फिर चालू\nमदद (HELP) – यह सूची";
    refused => "Sorry, no token: {why}", "माफ़ कीजिए, टोकन नहीं बन सका: {why}";
    why_unknown_clinic => "we don't know that clinic code. Please check the code on the poster.",
        "यह क्लिनिक कोड हमें नहीं मिला। कृपया पोस्टर पर कोड देखें।";
    why_no_phone => "this WhatsApp account shows no phone number. Please ask at the reception.",
        "इस WhatsApp खाते का फ़ोन नंबर नहीं दिखता। कृपया रिसेप्शन पर पूछें।";
    why_not_taking => "the clinic is not giving tokens on WhatsApp right now. Please ask at the reception.",
        "क्लिनिक अभी WhatsApp पर टोकन नहीं दे रहा है। कृपया रिसेप्शन पर पूछें।";
    why_closed => "today's queue is closed.", "आज की कतार बंद है।";
    why_phone_limit => "this number already has the most tokens allowed today.",
        "इस नंबर पर आज के सबसे ज़्यादा टोकन पहले ही बन चुके हैं।";
    why_daily_limit => "the clinic has given out all of today's tokens.", "क्लिनिक के आज के सारे टोकन खत्म हो गए।";
    why_choose_line => "the clinic has several lines. Send one of:", "क्लिनिक में कई कतारें हैं। इनमें से एक भेजें:";
    why_no_line => "that line does not exist. Please check the code on the poster.",
        "यह कतार नहीं मिली। कृपया पोस्टर पर कोड देखें।";
    why_other => "please ask at the reception.", "कृपया रिसेप्शन पर पूछें।";
    track => "Live: {link}", "लाइव: {link}";
}

fn fill(language: Language, key: R, args: &[(&str, &str)]) -> String {
    let mut s = key.text(language).to_string();
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

fn text_field<'a>(payload: &'a Value, name: &str) -> Option<&'a str> {
    payload.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn int_field(payload: &Value, name: &str) -> Option<i64> {
    payload.get(name).and_then(Value::as_i64)
}

/// The reply's text; an error is permanent (a payload this worker cannot word).
pub fn reply_text(payload: &Value, language: Language, public_url: &str) -> Result<String, String> {
    let kind = text_field(payload, "kind").ok_or("the reply payload has no kind")?;
    // "Sharma Clinic: …"; a reply from a number that speaks for no clinic yet says "QLink".
    let clinic = text_field(payload, "clinic_name").unwrap_or("QLink");
    let label = text_field(payload, "token_label").unwrap_or("");
    let l = language;
    let mut parts: Vec<String> = Vec::new();
    let queue_facts = |parts: &mut Vec<String>| {
        match int_field(payload, "people_ahead") {
            Some(0) => parts.push(fill(l, R::next, &[])),
            Some(n) if n > 0 => parts.push(fill(l, R::ahead, &[("n", &n.to_string())])),
            _ => {}
        }
        if let (Some(lo), Some(hi)) = (int_field(payload, "eta_min_minutes"), int_field(payload, "eta_max_minutes")) {
            parts.push(fill(l, R::eta, &[("lo", &lo.to_string()), ("hi", &hi.to_string())]));
        }
    };
    let with_token = [("clinic", clinic), ("label", label)];
    match kind {
        "joined" => {
            parts.push(fill(l, R::joined, &with_token));
            queue_facts(&mut parts);
        }
        "status" => match text_field(payload, "status").unwrap_or("WAITING") {
            "SERVING" => match text_field(payload, "room_name") {
                Some(room) => {
                    parts.push(fill(l, R::serving_room, &[("clinic", clinic), ("label", label), ("room", room)]))
                }
                None => parts.push(fill(l, R::serving, &with_token)),
            },
            "SERVED" => parts.push(fill(l, R::served, &with_token)),
            "SKIPPED" => parts.push(fill(l, R::skipped, &with_token)),
            "CANCELLED" => parts.push(fill(l, R::was_cancelled, &with_token)),
            _ => {
                parts.push(fill(l, R::waiting, &with_token));
                queue_facts(&mut parts);
            }
        },
        "cancelled" => parts.push(fill(l, R::cancelled, &with_token)),
        "not_cancellable" => parts.push(fill(l, R::not_cancellable, &with_token)),
        "no_token" => parts.push(fill(l, R::no_token, &[])),
        "not_available" => parts.push(fill(l, R::not_available, &[])),
        "stopped" if payload.get("clinic_name").is_some_and(Value::is_string) => {
            parts.push(fill(l, R::stopped, &[("clinic", clinic)]))
        }
        "stopped" => parts.push(fill(l, R::stopped_any, &[])),
        "started" if payload.get("clinic_name").is_some_and(Value::is_string) => {
            parts.push(fill(l, R::started, &[("clinic", clinic)]))
        }
        "started" => parts.push(fill(l, R::started_any, &[])),
        "help" => parts.push(fill(l, R::help, &[])),
        "refused" => {
            let why = match text_field(payload, "reason").unwrap_or("") {
                "unknown_clinic" => R::why_unknown_clinic,
                "no_phone" => R::why_no_phone,
                "business_suspended" | "clinic_suspended" | "clinic_disabled" | "qr_intake_off" => R::why_not_taking,
                "session_closed" => R::why_closed,
                "phone_limit" => R::why_phone_limit,
                "daily_token_limit" => R::why_daily_limit,
                "queue_required" => R::why_choose_line,
                "queue_not_found" => R::why_no_line,
                _ => R::why_other,
            };
            let mut text = fill(l, R::refused, &[("why", why.text(l))]);
            if why == R::why_choose_line {
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
        text.push_str(&fill(l, R::track, &[("link", &link)]));
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
    "not_available",
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
            for l in [Language::En, Language::Hi] {
                let payload = json!({"kind": kind, "clinic_name": "Sharma Clinic", "token_label": "A-12",
                    "token_id": "5b0d7c1e-6d2f-4a57-9a59-3f1c2b7e8a10", "people_ahead": 3, "reason": "phone_limit",
                    "eta_min_minutes": 10, "eta_max_minutes": 25, "status": "WAITING"});
                let text = reply_text(&payload, l, "https://q.example/").unwrap();
                assert!(text.ends_with("https://q.example/t/5b0d7c1e-6d2f-4a57-9a59-3f1c2b7e8a10"), "{text}");
                assert!(!text.contains('{'), "{kind} {l:?}: {text}");
                assert!(text.chars().count() < 400, "{kind} {l:?}: {text}");
            }
        }
        for key in R::ALL {
            assert!(!key.text(Language::Hi).is_empty() && key.text(Language::Hi) != key.text(Language::En));
        }
    }

    #[test]
    fn replies_say_what_happened() {
        let joined = json!({"kind": "joined", "clinic_name": "Sharma Clinic", "token_label": "7", "people_ahead": 0,
            "eta_min_minutes": null, "token_id": "t1"});
        assert_eq!(
            reply_text(&joined, Language::En, "http://h").unwrap(),
            "Sharma Clinic: you are in the queue. Your token is 7. You are next.\nLive: http://h/t/t1"
        );
        let help = reply_text(&json!({"kind": "help", "clinic_name": null}), Language::Hi, "http://h").unwrap();
        assert!(help.contains("जुड़ें") && help.contains("STOP") && !help.contains("Live"), "{help}");
        let lines = json!({"kind": "refused", "reason": "queue_required", "choices": ["sharma/A (General)"]});
        let text = reply_text(&lines, Language::En, "http://h").unwrap();
        assert!(text.ends_with("Send one of:\nJOIN sharma/A (General)"), "{text}");
        let serving = json!({"kind": "status", "status": "SERVING", "clinic_name": "C", "token_label": "A-1",
            "room_name": "Room 2"});
        assert!(reply_text(&serving, Language::En, "http://h").unwrap().contains("Please go to Room 2."));
        assert!(reply_text(&json!({"kind": "surprise"}), Language::En, "http://h").is_err());
        assert!(reply_text(&json!({}), Language::En, "http://h").is_err());
    }
}
