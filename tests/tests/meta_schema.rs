//! Every request body QLink sends to Meta validates against QLink's own statement of the
//! Cloud API v23.0 schema (tests/fixtures/meta_messages.schema.json: which of Meta's
//! published schemas it restates is said at its top). Bodies are built by the same code
//! the worker and `qlink whatsapp templates` use, for every template and language, every
//! reply kind and language, and every template definition.

use qlink_server::whatsapp::replies::{reply_text, KINDS};
use qlink_server::whatsapp::templates::{creation_bodies, LANGUAGES};
use qlink_server::whatsapp::{MessageType, OutboundMessage, TokenFacts, TEMPLATES};
use serde_json::{json, Value};

fn validator(def: &str) -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_str(include_str!("../fixtures/meta_messages.schema.json")).unwrap();
    schema["$ref"] = json!(format!("#/$defs/{def}"));
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

fn problems(v: &jsonschema::Validator, body: &Value) -> Vec<String> {
    v.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path)).collect()
}

fn facts(room: Option<&str>) -> TokenFacts {
    TokenFacts {
        clinic_name: "Sharma Clinic".into(),
        token_label: "A-12".into(),
        room_name: room.map(str::to_string),
        tracking_url: "https://q.example/t/5b0d7c1e-6d2f-4a57-9a59-3f1c2b7e8a10".into(),
        people_ahead: 4,
        delay_minutes: None,
    }
}

fn send(m: &OutboundMessage) -> Value {
    m.request_body(&m.recipient().expect("a phone number"))
}

#[test]
fn every_template_message_in_every_language_validates() {
    let v = validator("send");
    let mut checked = 0;
    for template in TEMPLATES {
        for language in LANGUAGES {
            for room in [None, Some("Room 2")] {
                let m = OutboundMessage::template(template.message_type, "+919876543210", language, &facts(room))
                    .expect("a template type");
                let body = send(&m);
                assert_eq!(problems(&v, &body), Vec::<String>::new(), "{body:#}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, TEMPLATES.len() * LANGUAGES.len() * 2);
}

#[test]
fn every_reply_kind_in_every_language_validates() {
    let v = validator("send");
    for kind in KINDS {
        for language in LANGUAGES {
            for token in [None, Some("5b0d7c1e-6d2f-4a57-9a59-3f1c2b7e8a10")] {
                let payload = json!({"kind": kind, "clinic_name": "Sharma Clinic", "token_label": "A-12",
                    "token_id": token, "people_ahead": 2, "position": 3, "eta_min_minutes": 5,
                    "eta_max_minutes": 15, "status": "WAITING", "reason": "session_closed",
                    "commands": ["JOIN", "STATUS", "CANCEL", "STOP", "START", "HELP"]});
                let text = reply_text(&payload, language, "https://q.example").unwrap();
                let body = send(&OutboundMessage::text("+919876543210", language, text));
                assert_eq!(problems(&v, &body), Vec::<String>::new(), "{body:#}");
            }
        }
    }
}

#[test]
fn every_template_definition_validates() {
    let v = validator("template_creation");
    let bodies = creation_bodies();
    assert_eq!(bodies.len(), TEMPLATES.len() * LANGUAGES.len());
    for body in &bodies {
        assert_eq!(problems(&v, body), Vec::<String>::new(), "{body:#}");
    }
}

/// The schema is not a rubber stamp: it refuses what Meta refuses.
#[test]
fn the_schema_refuses_what_meta_refuses() {
    let v = validator("send");
    let m = OutboundMessage::template(MessageType::Welcome, "+919876543210", LANGUAGES[0], &facts(None)).unwrap();
    let good = send(&m);
    // 0.1's body: a language without policy.
    let mut no_policy = good.clone();
    no_policy["template"]["language"] = json!({"code": "en"});
    assert!(!problems(&v, &no_policy).is_empty());
    let mut plus = good.clone();
    plus["to"] = json!("+919876543210");
    assert!(!problems(&v, &plus).is_empty());
    let mut user_id = good.clone();
    user_id["to"] = json!("IN.1349120865530274");
    assert!(!problems(&v, &user_id).is_empty(), "a business-scoped user id is not a phone number");
    let mut no_index = good.clone();
    no_index["template"]["components"][1].as_object_mut().unwrap().remove("index");
    assert!(!problems(&v, &no_index).is_empty());
    let text = send(&OutboundMessage::text("+919876543210", LANGUAGES[0], "Hi".into()));
    let mut extra = text.clone();
    extra["text"]["title"] = json!("x");
    assert!(!problems(&v, &extra).is_empty());
    let creation = validator("template_creation");
    let mut long_button = creation_bodies()[0].clone();
    long_button["components"][1]["buttons"][0]["text"] = json!("a button text that is far too long");
    assert!(!problems(&creation, &long_button).is_empty());
}
