//! The template definitions: one home for what Meta must have approved and for what the
//! worker sends. `qlink whatsapp templates` prints them in the body of Meta's
//! template-creation API (`POST /{version}/{waba_id}/message_templates`), and the sender
//! builds each message's parameters and quick-reply buttons from the same definition, so
//! the parameter count and the button order can never drift apart (Meta refuses a send
//! whose parameters do not match the approved template: error 132000).
//!
//! Meta's rules the bodies keep: a placeholder neither starts nor ends the body, numbered
//! `{{1}}`… each with an example value; the link stands alone on its line (a period glued
//! to it would end up in the link on some phones); a quick-reply button's text is at most 25
//! characters. The button payloads are given at send time and come back in the webhook as
//! the button's `payload`: the extension reads them as the commands they name.

use super::MessageType;
use crate::i18n::{Lang, K};
use serde_json::{json, Value};

/// One body parameter, by what it holds; the catalogue's variable of the same name stands
/// for it in each language's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    ClinicName,
    /// The token label; in a clinic with several rooms the CALLED message adds the room:
    /// `A-12 (Room 2)` (one parameter, so the approved template keeps its count).
    Token,
    TrackingLink,
    PeopleAhead,
    /// How late the doctor is, in minutes (DELAY).
    DelayMinutes,
}

impl Param {
    /// The example Meta's reviewers see.
    pub fn example(self) -> &'static str {
        match self {
            Param::ClinicName => "Sharma Clinic",
            Param::Token => "A-12",
            Param::TrackingLink => "https://qlink.example.in/t/5b0d7c1e-6d2f-4a57-9a59-3f1c2b7e8a10",
            Param::PeopleAhead => "4",
            Param::DelayMinutes => "30",
        }
    }

    /// The variable in the catalogue's text.
    pub fn variable(self) -> &'static str {
        match self {
            Param::ClinicName => "clinic",
            Param::Token => "token",
            Param::TrackingLink => "link",
            Param::PeopleAhead => "ahead",
            Param::DelayMinutes => "minutes",
        }
    }
}

/// A quick-reply button: its payload (a command the extension understands) and its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Button {
    pub payload: &'static str,
    pub text: K,
}

impl Button {
    pub fn text(&self, language: Lang) -> &'static str {
        language.t(self.text)
    }
}

const STATUS: Button = Button { payload: "STATUS", text: K::button_status };
const CANCEL: Button = Button { payload: "CANCEL", text: K::button_cancel };
const STOP: Button = Button { payload: "STOP", text: K::button_stop };
const LATE: Button = Button { payload: "LATE", text: K::button_late };

/// One approved template, in every language.
#[derive(Debug, PartialEq, Eq)]
pub struct Template {
    pub message_type: MessageType,
    pub name: &'static str,
    /// `{{1}}`, `{{2}}`, … in this order.
    pub params: &'static [Param],
    /// In this order (button index 0, 1, …).
    pub buttons: &'static [Button],
    /// The body in the catalogues (locales/patient/*.ftl).
    pub body: K,
}

/// Every template QLink sends.
pub static TEMPLATES: &[Template] = &[
    Template {
        message_type: MessageType::Welcome,
        name: "qlink_welcome",
        params: &[Param::ClinicName, Param::Token, Param::TrackingLink, Param::PeopleAhead],
        buttons: &[STATUS, CANCEL, STOP],
        body: K::template_welcome,
    },
    Template {
        message_type: MessageType::Reminder,
        name: "qlink_reminder",
        params: &[Param::ClinicName, Param::Token, Param::TrackingLink, Param::PeopleAhead],
        buttons: &[STATUS, LATE, CANCEL],
        body: K::template_reminder,
    },
    Template {
        message_type: MessageType::Called,
        name: "qlink_called",
        params: &[Param::ClinicName, Param::Token, Param::TrackingLink],
        buttons: &[],
        body: K::template_called,
    },
    Template {
        message_type: MessageType::Delay,
        name: "qlink_delay",
        params: &[Param::ClinicName, Param::Token, Param::TrackingLink, Param::DelayMinutes],
        buttons: &[STATUS, CANCEL],
        body: K::template_delay,
    },
];

/// The languages every template exists in.
pub const LANGUAGES: [Lang; 8] = Lang::ALL;

impl Template {
    pub fn for_type(message_type: MessageType) -> Option<&'static Template> {
        TEMPLATES.iter().find(|t| t.message_type == message_type)
    }

    /// The body as Meta approves it: each parameter as `{{n}}`.
    pub fn body(&self, language: Lang) -> String {
        let numbered: Vec<(&str, String)> =
            self.params.iter().enumerate().map(|(i, p)| (p.variable(), format!("{{{{{}}}}}", i + 1))).collect();
        let args: Vec<(&str, &str)> = numbered.iter().map(|(v, n)| (*v, n.as_str())).collect();
        language.tf(self.body, &args)
    }

    /// The text the patient reads: the body with the parameters filled in (the fake
    /// WhatsApp API in the tests renders messages the same way).
    pub fn render(&self, language: Lang, parameters: &[String]) -> String {
        let args: Vec<(&str, &str)> =
            self.params.iter().zip(parameters).map(|(p, value)| (p.variable(), value.as_str())).collect();
        language.tf(self.body, &args)
    }

    /// The body of `POST /{version}/{waba_id}/message_templates` for one language.
    pub fn creation_body(&self, language: Lang) -> Value {
        let examples: Vec<&str> = self.params.iter().map(|p| p.example()).collect();
        let mut components = vec![json!({
            "type": "BODY",
            "text": self.body(language),
            "example": {"body_text": [examples]},
        })];
        if !self.buttons.is_empty() {
            let buttons: Vec<Value> =
                self.buttons.iter().map(|b| json!({"type": "QUICK_REPLY", "text": b.text(language)})).collect();
            components.push(json!({"type": "BUTTONS", "buttons": buttons}));
        }
        json!({
            "name": self.name,
            "language": language.code(),
            "category": "UTILITY",
            "components": components,
        })
    }

    /// The `components` of a send: the body's parameters, then one component per
    /// quick-reply button carrying its payload.
    pub fn send_components(&self, parameters: &[String]) -> Vec<Value> {
        let parameters: Vec<Value> = parameters.iter().map(|text| json!({"type": "text", "text": text})).collect();
        let mut components = vec![json!({"type": "body", "parameters": parameters})];
        for (index, button) in self.buttons.iter().enumerate() {
            components.push(json!({
                "type": "button",
                "sub_type": "quick_reply",
                "index": index.to_string(),
                "parameters": [{"type": "payload", "payload": button.payload}],
            }));
        }
        components
    }
}

/// Every template definition, one per template and language, as Meta's creation API wants it.
pub fn creation_bodies() -> Vec<Value> {
    TEMPLATES.iter().flat_map(|t| LANGUAGES.iter().map(move |l| t.creation_body(*l))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(body: &str) -> Vec<usize> {
        let mut found = Vec::new();
        let mut rest = body;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..].find("}}").expect("closed placeholder") + start;
            found.push(rest[start + 2..end].parse().expect("numbered placeholder"));
            rest = &rest[end + 2..];
        }
        found
    }

    #[test]
    fn every_body_numbers_each_parameter_once_and_neither_starts_nor_ends_with_one() {
        for t in TEMPLATES {
            for l in LANGUAGES {
                let body = t.body(l);
                let body = body.as_str();
                let mut numbers = placeholders(body);
                numbers.sort_unstable();
                assert_eq!(numbers, (1..=t.params.len()).collect::<Vec<_>>(), "{} {l:?}", t.name);
                // Meta refuses a body that starts or ends with a placeholder.
                assert!(!body.trim_start().starts_with("{{"), "{} {l:?}", t.name);
                assert!(!body.trim_end().ends_with("}}"), "{} {l:?}", t.name);
                assert!(body.chars().count() <= 1024, "{} {l:?}", t.name);
            }
            for (b, l) in t.buttons.iter().flat_map(|b| LANGUAGES.map(|l| (b, l))) {
                assert!(b.text(l).chars().count() <= 25, "{b:?} {l:?}: {}", b.text(l));
            }
            // The link ends its line: a period glued to it would join the link on some phones.
            for l in LANGUAGES {
                let body = t.body(l);
                let link = format!("{{{{{}}}}}", t.params.iter().position(|p| *p == Param::TrackingLink).unwrap() + 1);
                assert!(body.lines().any(|line| line.trim_end().ends_with(&link)), "{} {l:?}: {body}", t.name);
            }
        }
    }

    #[test]
    fn one_definition_per_template_and_language() {
        let bodies = creation_bodies();
        assert_eq!(bodies.len(), TEMPLATES.len() * LANGUAGES.len());
        let welcome = &bodies[0];
        assert_eq!(welcome["name"], "qlink_welcome");
        assert_eq!(welcome["category"], "UTILITY");
        assert_eq!(welcome["components"][0]["example"]["body_text"][0].as_array().unwrap().len(), 4);
        assert_eq!(welcome["components"][1]["buttons"][2]["text"], "Stop messages");
        let called = Template::for_type(MessageType::Called).unwrap().creation_body(Lang::Hi);
        assert_eq!(called["components"].as_array().unwrap().len(), 1, "no buttons: {called}");
        let delay = Template::for_type(MessageType::Delay).unwrap();
        assert_eq!(
            delay.render(Lang::En, &["Sharma Clinic".into(), "A-12".into(), "https://q/t/1".into(), "30".into()]),
            "Sorry, the doctor at Sharma Clinic is running about 30 minutes late. Token A-12 keeps its place.\n\
             Live queue: https://q/t/1\nThank you for waiting."
        );
        assert!(bodies.iter().any(|b| b["name"] == "qlink_delay" && b["language"] == "ta"));
    }
}
