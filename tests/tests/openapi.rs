//! The OpenAPI document keeps saying what the server accepts. scripts/schemathesis.sh proves
//! it against the running server; this pins the rules in the served document itself, so a
//! change to a struct or an attribute cannot silently loosen them: the patterns are run
//! here on the samples the extension's own tests accept and refuse (pg_ext/src/validate.rs),
//! and every request field must say what it takes.

use qlink_tests::app::{plain, spawn_app};
use regex::Regex;
use serde_json::{json, Value};

async fn served_document() -> Value {
    let app = spawn_app().await;
    let r = plain().get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc.pointer(&format!("/components/schemas/{name}")).unwrap_or_else(|| panic!("no schema {name}"))
}

fn pattern(field: &Value) -> Regex {
    let p = field["pattern"].as_str().unwrap_or_else(|| panic!("no pattern in {field}"));
    regex::RegexBuilder::new(p).size_limit(64 << 20).build().unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn assert_matches(re: &Regex, good: &[&str], bad: &[&str], what: &str) {
    for s in good {
        assert!(re.is_match(s), "{what}: {s:?} is accepted by the server but refused by the document");
    }
    for s in bad {
        assert!(!re.is_match(s), "{what}: {s:?} is refused by the server but allowed by the document");
    }
}

#[tokio::test]
async fn the_document_pins_the_input_rules() {
    let doc = served_document().await;

    // Patients' names: 1–80 characters once trimmed, no control characters.
    let new_token = schema(&doc, "NewToken");
    assert_eq!(new_token["additionalProperties"], json!(false));
    assert_eq!(new_token["required"], json!(["patient_name", "patient_phone"]));
    let name = pattern(&new_token["properties"]["patient_name"]);
    let (a80, a81, devanagari80) = ("a".repeat(80), "a".repeat(81), "आ".repeat(80));
    let padded = format!("  {a80}\t\n");
    assert_matches(
        &name,
        &["Asha", "  Asha Rao ", "आशा राव", "O'Brien-Smith", &a80, &devanagari80, &padded],
        &["", "   ", "\t", &a81, "bad\u{7}name", "two\nlines", "nul\u{0}"],
        "patient_name",
    );
    assert_eq!(
        schema(&doc, "WalkIn")["properties"]["patient_name"]["pattern"],
        new_token["properties"]["patient_name"]["pattern"]
    );

    // Mobile numbers (validate.rs's own samples). One separator at a time keeps every
    // number the pattern allows within the extension's 32 characters, so the document is
    // stricter than the server only about runs of separators: "+1 (415) 555-2671" is sent
    // as "+1 415 555-2671" or "+1(415)555-2671".
    let phone = pattern(&new_token["properties"]["patient_phone"]);
    assert!(!phone.is_match("+1 (415) 555-2671"));
    assert_matches(
        &phone,
        &[
            "9876543210",
            "09876543210",
            "919876543210",
            "+919876543210",
            "+91 98765-43210",
            " 98765 43210 ",
            "+447911123456",
            "+1 415 555-2671",
            "+1(415)555-2671",
            "(0)98765.43210",
        ],
        &[
            "",
            "12345",
            "5876543210",
            "+91587654321",
            "98765abc10",
            "+0123456789",
            "987654321012345678",
            "+9198765432100",
            "'; drop table x; --",
            "९८७६५४३२१०",
        ],
        "patient_phone",
    );
    let walk_in_phone = pattern(&schema(&doc, "WalkIn")["properties"]["patient_phone"]);
    assert_matches(&walk_in_phone, &["", "  ", "9876543210"], &["12345"], "walk-in patient_phone");
    assert_eq!(
        new_token["properties"]["language"]["enum"],
        json!(["en", "hi", "ta", "te", "mr", "bn", "kn", "gu", "", null])
    );

    // Feedback: a rating 1–5, a comment of at most 1000 characters.
    let feedback = schema(&doc, "Feedback");
    let rating = &feedback["properties"]["rating"];
    assert_eq!(
        (rating["type"].clone(), rating["minimum"].clone(), rating["maximum"].clone()),
        (json!("integer"), json!(1), json!(5))
    );
    let (c1000, c1001) = ("c".repeat(1000), "c".repeat(1001));
    assert_matches(
        &pattern(&feedback["properties"]["feedback"]),
        &["", "Quick and kind", "two\nlines\tand a tab", &c1000],
        &[&c1001, "bell\u{7}", "nul\u{0}"],
        "feedback",
    );

    // Queue actions: the seven, which take a token, and TRANSFER's target queue.
    let action = schema(&doc, "ActionRequest");
    assert_eq!(
        action["properties"]["action"]["enum"],
        json!(["NEXT", "SERVED", "SKIP", "RECALL", "CANCEL", "UNDO", "TRANSFER"])
    );
    assert_eq!(action["properties"]["token_id"]["format"], "uuid");
    assert_eq!(action["properties"]["room_id"]["format"], "uuid");
    assert_eq!(action["properties"]["target_queue_id"]["format"], "uuid");
    assert_eq!(action["oneOf"][0]["properties"]["action"]["enum"], json!(["NEXT", "UNDO"]));
    assert_eq!(action["oneOf"][1]["required"], json!(["token_id"]));
    assert_eq!(action["oneOf"][3]["properties"]["action"]["enum"], json!(["TRANSFER"]));
    assert_eq!(action["oneOf"][3]["required"], json!(["token_id", "target_queue_id"]));

    // A doctor's delay (SPEC §12): 0–240 minutes, a one-line note of at most 200 characters.
    let delay = schema(&doc, "DelayRequest");
    assert_eq!(
        (delay["properties"]["minutes"]["minimum"].clone(), delay["properties"]["minutes"]["maximum"].clone()),
        (json!(0), json!(240))
    );
    let (d200, d201) = ("d".repeat(200), "d".repeat(201));
    assert_matches(
        &pattern(&delay["properties"]["note"]),
        &["", "Doctor stuck in traffic", "डॉक्टर रास्ते में हैं", &d200, &format!(" {d200} ")],
        &[&d201, "two\nlines", "bell\u{7}", "\u{f}x"],
        "delay note",
    );

    // Queues and rooms (SPEC §9): names, prefixes, the queues of a room.
    let new_queue = schema(&doc, "NewQueue");
    let (q80, q81) = ("q".repeat(80), "q".repeat(81));
    assert_matches(
        &pattern(&new_queue["properties"]["name"]),
        &["Dr. Mehta — General", "Lab", &q80, " padded "],
        &["", "   ", &q81, "bell\u{7}"],
        "queue name",
    );
    assert_matches(
        &pattern(&new_queue["properties"]["prefix"]),
        &["", "A", "DR", "ABC", " B "],
        &["a", "ABCD", "A1", "A-"],
        "prefix",
    );
    let new_room = schema(&doc, "NewRoom");
    let (r40, r41) = ("r".repeat(40), "r".repeat(41));
    assert_matches(
        &pattern(&new_room["properties"]["name"]),
        &["Room 2", "Chair 1", &r40],
        &["", &r41, "tab\u{1}"],
        "room name",
    );
    assert_eq!(new_room["properties"]["queue_ids"]["minItems"], 1);
    assert_eq!(new_room["properties"]["queue_ids"]["items"]["format"], "uuid");
    let new_login = schema(&doc, "NewLogin");
    assert_eq!(new_login["properties"]["role"]["enum"], json!(["STAFF", "OWNER"]));
    let owner_settings = schema(&doc, "SettingsChange");
    let keys: Vec<&String> =
        owner_settings["properties"]["settings"]["properties"].as_object().unwrap().keys().collect();
    assert!(!keys.iter().any(|k| k.as_str() == "daily_token_limit"), "owners do not set limits: {keys:?}");
    assert!(keys.iter().any(|k| k.as_str() == "eta_min_minutes"), "{keys:?}");

    // Clinics: short names, names, statuses, settings with their ranges.
    let new_clinic = schema(&doc, "NewClinic");
    let slug_63 = format!("a{}", "-".repeat(62));
    assert_matches(
        &pattern(&new_clinic["properties"]["slug"]),
        &["ab", "sharma-clinic", "0-9", &slug_63, " padded "],
        &["a", "-ab", "Sharma", "a_b", "a b", &format!("{slug_63}x")],
        "slug",
    );
    assert_matches(
        &pattern(&new_clinic["properties"]["staff_email"]),
        &["desk@clinic.test", "A.B+c@x.y", "a@b..c"],
        &["", "desk", "@x.y", "a@b", "a@.b", "a@b.", "a@b@c.d", "a b@c.d", " a@b.c"],
        "staff_email",
    );
    assert_eq!(new_clinic["properties"]["staff_email"]["maxLength"], 254);
    assert_eq!(new_clinic["properties"]["staff_password"]["minLength"], 8);
    assert_eq!(new_clinic["properties"]["status"]["enum"], json!(["ACTIVE", "TRIAL", "SUSPENDED", "DISABLED", null]));
    let clinic_name = pattern(&new_clinic["properties"]["name"]);
    assert_matches(&clinic_name, &["Dr. Sharma's Clinic", &"x".repeat(120)], &["", " ", &"x".repeat(121)], "name");
    let settings = &schema(&doc, "ClinicChange")["properties"]["settings"];
    assert_eq!(settings["additionalProperties"], json!(false));
    for (key, lo, hi) in [
        ("daily_token_limit", 1, 10_000),
        ("daily_message_limit", 0, 100_000),
        ("max_tokens_per_phone_per_day", 1, 50),
        ("ip_tokens_per_10min", 1, 10_000),
        ("kiosk_tokens_per_10min", 1, 10_000),
        ("eta_min_minutes", 1, 240),
        ("eta_max_minutes", 1, 240),
        ("stall_warning_minutes", 1, 240),
        ("reminder_at_position", 0, 50),
    ] {
        let s = &settings["properties"][key];
        assert_eq!(
            (s["type"].clone(), s["minimum"].clone(), s["maximum"].clone()),
            (json!("integer"), json!(lo), json!(hi)),
            "{key}"
        );
    }
    assert_eq!(
        settings["properties"]["default_language"]["enum"],
        json!(["en", "hi", "ta", "te", "mr", "bn", "kn", "gu"])
    );
    assert_eq!(settings["properties"].as_object().unwrap().len(), 12);

    // Ids in addresses are uuids; the public slug is exactly a stored one.
    for (path, method) in [
        ("/api/v1/tokens/{id}", "get"),
        ("/api/v1/tokens/{id}/cancel", "post"),
        ("/api/v1/tokens/{id}/feedback", "post"),
        ("/api/v1/admin/clinics/{id}", "patch"),
        ("/api/v1/admin/clinics/{id}", "delete"),
        ("/api/v1/admin/clinics/{id}/reset-session", "post"),
    ] {
        let param = &doc["paths"][path][method]["parameters"][0];
        assert_eq!(
            (param["name"].as_str(), param["schema"]["format"].as_str()),
            (Some("id"), Some("uuid")),
            "{method} {path}"
        );
    }
    let slug = &doc["paths"]["/api/v1/clinics/{slug}"]["get"]["parameters"][0]["schema"];
    assert_eq!(slug["pattern"], "^[a-z0-9][a-z0-9-]{1,62}$");
    let status = &doc["paths"]["/api/v1/admin/messages"]["get"]["parameters"][0]["schema"];
    assert_eq!(status["enum"].as_array().map(Vec::len), Some(8));

    // WhatsApp senders (SPEC §11): Meta's ids are 5–32 digits (pg_ext/src/senders.rs), the
    // display number is a patient's number, the token visible ASCII (sealed by the server),
    // the daily recipient cap 1–1,000,000.
    let sender = schema(&doc, "SenderSettings");
    assert_eq!(sender["required"], json!(["phone_number_id", "display_number", "waba_id"]));
    for field in ["phone_number_id", "waba_id"] {
        assert_matches(
            &pattern(&sender["properties"][field]),
            &["12345", "106540352242922", " 106540352242922\t", &"9".repeat(32)],
            &["", "1234", "12a45", "+12345", &"9".repeat(33), "१२३४५"],
            field,
        );
    }
    assert_eq!(sender["properties"]["display_number"]["pattern"], new_token["properties"]["patient_phone"]["pattern"]);
    assert_matches(
        &pattern(&sender["properties"]["access_token"]),
        &["EAAG1234abcd", " EAAG-x_y.z ", &"t".repeat(4096)],
        &["", "two words", "tab\tinside", &"t".repeat(4097), "é"],
        "access_token",
    );
    assert_eq!(sender["properties"]["access_token"]["type"], json!(["string", "null"]));
    let limit = &schema(&doc, "RecipientLimitChange")["properties"]["daily_recipient_limit"];
    assert_eq!((limit["minimum"].clone(), limit["maximum"].clone()), (json!(1), json!(1_000_000)));
    let waba = &doc["paths"]["/api/v1/admin/whatsapp/accounts/{waba_id}"]["put"]["parameters"][0]["schema"];
    let waba = regex::Regex::new(waba["pattern"].as_str().unwrap()).unwrap();
    assert_matches(
        &waba,
        &["installation", "102290129340398"],
        &["Installation", "1234", " 12345", "installation2"],
        "waba_id",
    );
    assert!(doc["paths"]["/api/v1/staff/whatsapp"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/staff/whatsapp"].get("put").is_none(), "owners never change their sender");
}

/// Every field of every request body says what it takes (a pattern, a closed list, a
/// format or a length for text; both bounds for numbers), and no body takes fields it
/// does not list: a new field cannot arrive unconstrained.
#[tokio::test]
async fn every_request_field_is_constrained() {
    let doc = served_document().await;
    let mut bodies = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(body) = op.pointer("/requestBody/content/application~1json/schema") else { continue };
            let Some(name) = body["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) else {
                // The webhook takes Meta's payload as it comes (checked by its signature).
                assert_eq!(path, "/api/v1/webhooks/whatsapp", "{method} {path} has an inline body");
                continue;
            };
            bodies += 1;
            let s = schema(&doc, name);
            assert_eq!(s["additionalProperties"], json!(false), "{name} takes unknown fields");
            for (field, f) in s["properties"].as_object().unwrap() {
                let types: Vec<&str> = match &f["type"] {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                let constrained = if types.contains(&"string") {
                    ["pattern", "enum", "format", "maxLength"].iter().any(|k| f.get(k).is_some())
                } else if types.contains(&"integer") || types.contains(&"number") {
                    f.get("minimum").is_some() && f.get("maximum").is_some()
                } else if types.contains(&"object") {
                    f["additionalProperties"] == json!(false)
                } else if types.contains(&"array") {
                    // A list of ids: bounded, of uuids.
                    f.get("maxItems").is_some() && f["items"]["format"] == "uuid"
                } else {
                    types.iter().all(|t| ["boolean", "null"].contains(t)) && types.contains(&"boolean")
                };
                assert!(constrained, "{name}.{field} ({method} {path}) says nothing of what it takes: {f}");
            }
        }
    }
    assert!(bodies >= 7, "{bodies} request bodies");
}
