//! The patients' words in eight languages (SPEC §12): English, Hindi, Tamil, Telugu, Marathi,
//! Bengali, Kannada and Gujarati, for the pages, the lobby display and the WhatsApp messages.
//!
//! The texts live in Fluent catalogues, one file per language (`server/locales/patient/`),
//! read with `fluent-bundle` and built into the binary, so a translator edits one file and
//! the server cannot start without its words. The keys are an enum ([`K`]): no page can ask
//! for a message that does not exist, and the tests check that every catalogue has every
//! key with the same variables as the English one, and no key the code does not know.
//!
//! A page script fills placeholders itself: [`Lang::t`] gives a message with each variable
//! shown as `{name}`, which [`Lang::json`] hands to the script and which the server fills
//! the same way ([`Lang::tf`] formats through Fluent, so a translation may use selectors).
//!
//! Numbers are written with Western digits in every language, as Indian phones, tickets
//! and WhatsApp messages do; times of day read in the language's own order and words
//! ([`Lang::clock`]).

use axum::http::{header, HeaderMap};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Hi,
    Ta,
    Te,
    Mr,
    Bn,
    Kn,
    Gu,
}

impl Lang {
    /// Every language, in the order the menus list them.
    pub const ALL: [Lang; 8] = [Lang::En, Lang::Hi, Lang::Ta, Lang::Te, Lang::Mr, Lang::Bn, Lang::Kn, Lang::Gu];

    /// The staff dashboard's languages.
    pub const STAFF: [Lang; 2] = [Lang::En, Lang::Hi];

    pub fn parse(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// A stored language (a token's, a message's): anything unexpected reads as English
    /// rather than failing the page or the message.
    pub fn stored(code: &str) -> Lang {
        Lang::parse(code).unwrap_or(Lang::En)
    }

    /// ISO 639-1, as stored and as WhatsApp's template languages name them.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Hi => "hi",
            Lang::Ta => "ta",
            Lang::Te => "te",
            Lang::Mr => "mr",
            Lang::Bn => "bn",
            Lang::Kn => "kn",
            Lang::Gu => "gu",
        }
    }

    /// The BCP 47 tag for India: the browser's time format and the display's voice.
    pub fn bcp47(self) -> &'static str {
        match self {
            Lang::En => "en-IN",
            Lang::Hi => "hi-IN",
            Lang::Ta => "ta-IN",
            Lang::Te => "te-IN",
            Lang::Mr => "mr-IN",
            Lang::Bn => "bn-IN",
            Lang::Kn => "kn-IN",
            Lang::Gu => "gu-IN",
        }
    }

    /// The language's own name, as the menu shows it.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Hi => "हिन्दी",
            Lang::Ta => "தமிழ்",
            Lang::Te => "తెలుగు",
            Lang::Mr => "मराठी",
            Lang::Bn => "বাংলা",
            Lang::Kn => "ಕನ್ನಡ",
            Lang::Gu => "ગુજરાતી",
        }
    }

    /// The language's name in English (staff and operator pages).
    pub fn english_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Hi => "Hindi",
            Lang::Ta => "Tamil",
            Lang::Te => "Telugu",
            Lang::Mr => "Marathi",
            Lang::Bn => "Bengali",
            Lang::Kn => "Kannada",
            Lang::Gu => "Gujarati",
        }
    }

    fn catalogue(self) -> &'static Catalogue {
        &CATALOGUES[self as usize]
    }

    /// The message with each variable shown as `{name}` (for a page script to fill).
    pub fn t(self, key: K) -> &'static str {
        &self.catalogue().marked[key as usize]
    }

    /// The staff dashboard's language for this one: English or Hindi.
    pub fn for_staff(self) -> Lang {
        if Lang::STAFF.contains(&self) {
            self
        } else {
            Lang::En
        }
    }

    fn staff_catalogue(self) -> &'static Catalogue {
        &STAFF_CATALOGUES[Lang::STAFF.iter().position(|l| *l == self.for_staff()).unwrap_or(0)]
    }

    /// A staff dashboard text ([`Lang::t`] for the desk), `{name}` marking its variables.
    pub fn d(self, key: D) -> &'static str {
        &self.staff_catalogue().marked[key as usize]
    }

    /// [`Lang::d`] with its variables filled.
    pub fn df(self, key: D, args: &[(&str, &str)]) -> String {
        self.staff_catalogue().format(key.name(), Some(&fluent_args(args)))
    }

    /// The given desk keys as a JSON object `{key: text}` for staff.js.
    pub fn desk_json(self, keys: &[D]) -> String {
        script_json(keys.iter().map(|k| (k.name(), self.d(*k))))
    }

    /// The message formatted with its variables. A value that reads as a whole number is
    /// given to Fluent as a number, so a translation can choose its plural form.
    pub fn tf(self, key: K, args: &[(&str, &str)]) -> String {
        self.catalogue().format(key.name(), Some(&fluent_args(args)))
    }

    /// The given keys as a JSON object `{key: text}` for a page script.
    pub fn json(self, keys: &[K]) -> String {
        script_json(keys.iter().map(|k| (k.name(), self.t(*k))))
    }

    /// A time of day, 12-hour, in the language's order and words: "10:05 am", "सुबह 10:05".
    pub fn clock(self, hour: u32, minute: u32) -> String {
        let half = if hour < 12 { K::clock_am } else { K::clock_pm };
        let h12 = match hour % 12 {
            0 => 12,
            h => h,
        };
        let half = self.t(half);
        self.tf(K::clock, &[("hour", &format!("{h12}")), ("minute", &format!("{minute:02}")), ("half", half)])
    }

    /// The page language: an explicit choice (`?lang=`), else the browser's
    /// Accept-Language, else the given default (the clinic's or the token's).
    pub fn choose(explicit: Option<&str>, headers: &HeaderMap, default: Lang) -> Lang {
        explicit.and_then(Lang::parse).or_else(|| Lang::from_headers(headers)).unwrap_or(default)
    }

    /// The first of the browser's Accept-Language tags that is one of ours (`ta-IN` → Tamil).
    pub fn from_headers(headers: &HeaderMap) -> Option<Lang> {
        let accept = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
        accept
            .split(',')
            .map(|part| part.split(';').next().unwrap_or("").trim())
            .find_map(|tag| Lang::parse(tag.split(['-', '_']).next().unwrap_or("")))
    }
}

/// `{key: text}` for a page script's `data-i18n`.
fn script_json<'a>(texts: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        texts.map(|(k, v)| (k.to_string(), serde_json::Value::from(v))).collect();
    serde_json::Value::Object(map).to_string()
}

/// Fluent arguments from text values. A value that reads as a whole number is given to
/// Fluent as a number, so a translation can choose its plural form; "07" and "+91" stay text.
fn fluent_args<'a>(args: &[(&'a str, &'a str)]) -> FluentArgs<'a> {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        match value.parse::<i64>() {
            Ok(n) if n.to_string() == *value => fluent_args.set(*name, FluentValue::from(n)),
            _ => fluent_args.set(*name, FluentValue::from(*value)),
        }
    }
    fluent_args
}

/// One language's bundle, and each message pre-rendered with `{name}` markers.
struct Catalogue {
    bundle: FluentBundle<FluentResource>,
    /// The English bundle, for a message a translation lacks (the tests allow none).
    fallback: Option<&'static FluentBundle<FluentResource>>,
    marked: Vec<String>,
}

/// The catalogue files, in [`Lang::ALL`]'s order.
pub(crate) const SOURCES: [&str; 8] = [
    include_str!("../locales/patient/en.ftl"),
    include_str!("../locales/patient/hi.ftl"),
    include_str!("../locales/patient/ta.ftl"),
    include_str!("../locales/patient/te.ftl"),
    include_str!("../locales/patient/mr.ftl"),
    include_str!("../locales/patient/bn.ftl"),
    include_str!("../locales/patient/kn.ftl"),
    include_str!("../locales/patient/gu.ftl"),
];

pub(crate) fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    bundle_of("patient", SOURCES[lang as usize], lang)
}

/// The staff dashboard's catalogue files, in [`Lang::STAFF`]'s order.
pub(crate) const STAFF_SOURCES: [&str; 2] =
    [include_str!("../locales/staff/en.ftl"), include_str!("../locales/staff/hi.ftl")];

pub(crate) fn staff_bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let i = Lang::STAFF.iter().position(|l| *l == lang).expect("a staff language");
    bundle_of("staff", STAFF_SOURCES[i], lang)
}

fn bundle_of(audience: &str, source: &str, lang: Lang) -> FluentBundle<FluentResource> {
    let resource = FluentResource::try_new(source.to_string())
        .unwrap_or_else(|(_, errors)| panic!("locales/{audience}/{}.ftl does not parse: {errors:?}", lang.code()));
    let locale = lang.bcp47().parse().expect("a valid language tag");
    let mut bundle = FluentBundle::new_concurrent(vec![locale]);
    // The texts go into HTML, JSON and WhatsApp messages, none of them right-to-left: the
    // isolation marks would only show up as stray characters on old phones.
    bundle.set_use_isolating(false);
    bundle.add_resource(resource).unwrap_or_else(|e| panic!("locales/{audience}/{}.ftl: {e:?}", lang.code()));
    bundle
}

static ENGLISH: LazyLock<FluentBundle<FluentResource>> = LazyLock::new(|| bundle(Lang::En));

static CATALOGUES: LazyLock<Vec<Catalogue>> = LazyLock::new(|| {
    Lang::ALL
        .into_iter()
        .map(|lang| {
            let mut c =
                Catalogue { bundle: bundle(lang), fallback: (lang != Lang::En).then(|| &*ENGLISH), marked: Vec::new() };
            c.marked = K::ALL.iter().map(|k| c.format_marked(k.name())).collect();
            c
        })
        .collect()
});

static STAFF_ENGLISH: LazyLock<FluentBundle<FluentResource>> = LazyLock::new(|| staff_bundle(Lang::En));

static STAFF_CATALOGUES: LazyLock<Vec<Catalogue>> = LazyLock::new(|| {
    Lang::STAFF
        .into_iter()
        .map(|lang| {
            let mut c = Catalogue {
                bundle: staff_bundle(lang),
                fallback: (lang != Lang::En).then(|| &*STAFF_ENGLISH),
                marked: Vec::new(),
            };
            c.marked = D::ALL.iter().map(|k| c.format_marked(k.name())).collect();
            c
        })
        .collect()
});

impl Catalogue {
    fn bundle_for(&self, key: &str) -> &FluentBundle<FluentResource> {
        match self.fallback {
            Some(english) if !self.bundle.has_message(key) => english,
            _ => &self.bundle,
        }
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        let bundle = self.bundle_for(key);
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            // Unreachable: the tests prove every key is in English.
            return key.to_string();
        };
        let mut errors = Vec::new();
        bundle.format_pattern(pattern, args, &mut errors).into_owned()
    }

    fn format_marked(&self, key: &str) -> String {
        let mut args = FluentArgs::new();
        for name in variables(self.bundle_for(key), key) {
            args.set(name.clone(), FluentValue::from(format!("{{{name}}}")));
        }
        self.format(key, Some(&args))
    }
}

/// The variables a message uses, in order of appearance (selectors included).
pub(crate) fn variables(bundle: &FluentBundle<FluentResource>, key: &str) -> Vec<String> {
    use fluent_syntax::ast::{Expression, InlineExpression, Pattern, PatternElement};
    fn inline(e: &InlineExpression<&str>, out: &mut Vec<String>) {
        match e {
            InlineExpression::VariableReference { id } if !out.iter().any(|v| v == id.name) => {
                out.push(id.name.to_string())
            }
            InlineExpression::Placeable { expression } => expr(expression, out),
            InlineExpression::FunctionReference { arguments, .. } => {
                arguments.positional.iter().for_each(|a| inline(a, out));
                arguments.named.iter().for_each(|a| inline(&a.value, out));
            }
            _ => {}
        }
    }
    fn expr(e: &Expression<&str>, out: &mut Vec<String>) {
        match e {
            Expression::Inline(i) => inline(i, out),
            Expression::Select { selector, variants } => {
                inline(selector, out);
                variants.iter().for_each(|v| pattern(&v.value, out));
            }
        }
    }
    fn pattern(p: &Pattern<&str>, out: &mut Vec<String>) {
        for element in &p.elements {
            if let PatternElement::Placeable { expression } = element {
                expr(expression, out)
            }
        }
    }
    let mut out = Vec::new();
    if let Some(p) = bundle.get_message(key).and_then(|m| m.value()) {
        pattern(p, &mut out);
    }
    out
}

macro_rules! keys {
    ($enum:ident: $($key:ident),* $(,)?) => {
        /// A message key: the message's id in every catalogue.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $enum { $($key),* }

        impl $enum {
            pub const ALL: &'static [$enum] = &[$($enum::$key),*];

            pub fn name(self) -> &'static str {
                match self { $($enum::$key => stringify!($key)),* }
            }
        }
    };
}

keys! {
    K:
    // Shared
    app_name, switch_language, now_serving, nobody_serving, waiting_count, token, footer_note,
    // Intake
    intake_title, intake_lead, name_label, phone_label, phone_hint, consent, join_button, joining,
    existing_token, track_my_token, err_name, err_phone, err_generic, err_unavailable, err_offline,
    closed_title, closed_body, suspended_title, suspended_body, limit_title, limit_network,
    limit_daily_title, limit_daily, already_title, already_yours, already_lost, back_to_form,
    choose_line, line_wait, line_no_wait, line_inactive, line_closed, line_full, line_unavailable,
    err_pick_line, join_whatsapp, join_whatsapp_hint, stop_whatsapp,
    // Not found / errors
    notfound_title, notfound_body, error_title,
    // Tracking
    your_token, your_line, go_to_room, st_waiting, st_serving, st_serving_body, st_served,
    st_served_body, st_skipped, st_skipped_body, st_cancelled, st_cancelled_body, position,
    people_ahead, one_ahead, you_are_next, eta, eta_soon, eta_label, progress_label, shift_alert,
    dismiss, keep_open, offline, updated_at, intake_closed_note, cancel_button, cancel_confirm,
    cancel_yes, cancel_no, feedback_title, rating_label, comment_label, feedback_send,
    feedback_pick, feedback_thanks,
    // Tracking: stepping out, coming back, reminders, a doctor's delay
    hold_button, hold_explain, held_title, held_until, return_button, returned_place,
    returned_front, hold_expired, err_hold, err_holds_off, reminder_label, reminder_save,
    reminder_saved, reminder_off, delay_notice, clock, clock_am, clock_pm,
    // Printed slip
    slip_joined, slip_scan, slip_print, slip_room,
    // Kiosk at the door
    kiosk_title, kiosk_lead, kiosk_phone_label, kiosk_take_slip, kiosk_next, kiosk_busy,
    kiosk_phone_taken, kiosk_closed,
    // Lobby display
    display_next, display_none_waiting, display_away, display_sound_on, display_scan, callout,
    callout_room, display_rooms, display_room_idle, display_waiting,
    // Poster
    poster_title, poster_step1, poster_step2, poster_step3, poster_no_phone, poster_line,
    poster_whatsapp,
    // WhatsApp replies
    reply_joined, reply_ahead, reply_next, reply_eta, reply_waiting, reply_serving,
    reply_serving_room, reply_served, reply_skipped, reply_was_cancelled, reply_cancelled,
    reply_not_cancellable, reply_held, reply_hold_refused, reply_holds_off, reply_returned,
    reply_returned_front, reply_not_held, reply_hold_expired, reply_no_token, reply_stopped,
    reply_stopped_any, reply_started, reply_started_any, reply_help, reply_refused,
    reply_why_unknown_clinic, reply_why_no_phone, reply_why_not_taking, reply_why_closed,
    reply_why_phone_limit, reply_why_daily_limit, reply_why_choose_line, reply_why_no_line,
    reply_why_other, reply_track,
    // WhatsApp templates and their buttons
    template_welcome, template_reminder, template_called, template_delay, button_status,
    button_cancel, button_stop, button_late,
}

// The reception dashboard (locales/staff/*.ftl: English and Hindi).
keys! {
    D:
    page_title, title, login_heading, login_hint, email, password, log_in, log_out, switch_language, owner_page_link, reports_link, room, room_pinned, choose_room, open, working_in, pick_room, overview, lines, serving, closed_banner, now_serving, send_to_line, action_next, action_served, action_skip, action_undo, count_waiting, count_skipped, count_served, count_cancelled, count_total, count_away, call_order, nobody_waiting, nobody_skipped, add_heading, name, mobile_optional, line, add_walkin, add_emergency, emergency_hint, delay_heading, delay_minutes, delay_note, delay_announce, delay_clear, delay_hint, close_day, close_day_hint, keyboard, refreshes, network, network_action, send_token_to_line, send_to, no_name, badge_priority, badge_away, badge_away_expired, source_desk, source_qr, undo_what, undo_what_token, undo_nothing, undo_add_walk_in, undo_add_emergency, undo_close_day, undo_reset_day, day_closed, reception_of, nobody_seen, stall, delay_banner, delay_banner_note, row_skip, row_cancel, row_recall, row_slip, print_slip, print_slip_key, slip_paper, sent_to, the_other_line, enter_name, walkin_added, walkin_added_line, emergency_added, emergency_added_line, delay_set, delay_set_queued, delay_cleared, minutes_invalid, close_day_confirm, day_closed_notice, kiosk_heading, kiosk_hint, kiosk_open, kiosk_wrong, kiosk_limited, kiosk_not_this_clinic, kiosk_signed_out, kiosks_heading, kiosks_hint, kiosks_none, kiosk_close, kiosk_row, source_kiosk,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ids(lang: Lang) -> BTreeSet<String> {
        let resource = FluentResource::try_new(SOURCES[lang as usize].to_string()).unwrap();
        resource
            .entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_catalogue_has_every_key_with_the_same_variables_and_nothing_else() {
        let known: BTreeSet<String> = K::ALL.iter().map(|k| k.name().to_string()).collect();
        let english = bundle(Lang::En);
        for lang in Lang::ALL {
            assert_eq!(ids(lang), known, "locales/patient/{}.ftl: keys differ from the code's", lang.code());
            let b = bundle(lang);
            for key in K::ALL {
                let mut ours = variables(&b, key.name());
                let mut theirs = variables(&english, key.name());
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs, "{}: {key:?} has other variables than in English", lang.code());
                assert!(!lang.t(*key).trim().is_empty(), "{}: {key:?} is empty", lang.code());
            }
        }
    }

    #[test]
    fn the_staff_catalogues_have_every_key_with_the_same_variables() {
        let known: BTreeSet<String> = D::ALL.iter().map(|k| k.name().to_string()).collect();
        let english = staff_bundle(Lang::En);
        for (i, lang) in Lang::STAFF.into_iter().enumerate() {
            let resource = FluentResource::try_new(STAFF_SOURCES[i].to_string()).unwrap();
            let ids: BTreeSet<String> = resource
                .entries()
                .filter_map(|e| match e {
                    fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                    _ => None,
                })
                .collect();
            assert_eq!(ids, known, "locales/staff/{}.ftl: keys differ from the code's", lang.code());
            let b = staff_bundle(lang);
            for key in D::ALL {
                let (mut ours, mut theirs) = (variables(&b, key.name()), variables(&english, key.name()));
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs, "staff {}: {key:?}", lang.code());
            }
        }
        let devanagari = |s: &str| s.chars().any(|c| ('\u{0900}'..='\u{097F}').contains(&c));
        for key in D::ALL.iter().filter(|k| ![D::source_qr].contains(k)) {
            assert!(devanagari(Lang::Hi.d(*key)), "{key:?}: {}", Lang::Hi.d(*key));
        }
        // Staff pages fall back to English for the patients' other languages.
        assert_eq!(Lang::Ta.d(D::title), "Reception");
        assert_eq!(Lang::Hi.df(D::stall, &[("minutes", "10")]).matches("10").count(), 1);
    }

    #[test]
    fn every_language_is_written_in_its_own_script() {
        let script = |lang: Lang| -> fn(char) -> bool {
            match lang {
                Lang::En => |c| c.is_ascii_alphabetic(),
                Lang::Hi | Lang::Mr => |c| ('\u{0900}'..='\u{097F}').contains(&c),
                Lang::Bn => |c| ('\u{0980}'..='\u{09FF}').contains(&c),
                Lang::Gu => |c| ('\u{0A80}'..='\u{0AFF}').contains(&c),
                Lang::Ta => |c| ('\u{0B80}'..='\u{0BFF}').contains(&c),
                Lang::Te => |c| ('\u{0C00}'..='\u{0C7F}').contains(&c),
                Lang::Kn => |c| ('\u{0C80}'..='\u{0CFF}').contains(&c),
            }
        };
        // Brand names, symbols and the time pattern read the same everywhere.
        let same = [K::app_name, K::nobody_serving, K::clock, K::reply_track];
        for lang in Lang::ALL {
            let ours = script(lang);
            for key in K::ALL.iter().filter(|k| !same.contains(k)) {
                assert!(lang.t(*key).chars().any(ours), "{}: {key:?} = {:?}", lang.code(), lang.t(*key));
            }
        }
    }

    #[test]
    fn formatting_fills_variables_and_marks_them_for_scripts() {
        assert_eq!(Lang::Hi.tf(K::callout, &[("n", "12")]), "टोकन नंबर 12, कृपया अंदर आइए");
        assert_eq!(Lang::En.tf(K::eta, &[("lo", "12"), ("hi", "30")]), "about 12–30 min");
        assert_eq!(Lang::En.t(K::eta), "about {lo}–{hi} min");
        assert_eq!(Lang::En.tf(K::callout, &[("n", "A-07")]), "Token number A-07, please come in");
        let v: serde_json::Value = serde_json::from_str(&Lang::En.json(&[K::you_are_next])).unwrap();
        assert_eq!(v["you_are_next"], "You're next");
        assert_eq!(Lang::En.clock(10, 5), "10:05 am");
        assert_eq!(Lang::En.clock(0, 30), "12:30 am");
        assert_eq!(Lang::En.clock(15, 0), "3:00 pm");
        assert_eq!(Lang::Hi.clock(15, 0), "शाम 3:00");
        for lang in Lang::ALL {
            assert!(lang.clock(9, 41).contains("9:41"), "{}: {}", lang.code(), lang.clock(9, 41));
            assert!(!lang.tf(K::reply_help, &[]).contains('{'));
        }
    }

    #[test]
    fn language_choice() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::choose(None, &headers, Lang::En), Lang::En);
        headers.insert(header::ACCEPT_LANGUAGE, "hi-IN,hi;q=0.9,en;q=0.8".parse().unwrap());
        assert_eq!(Lang::choose(None, &headers, Lang::En), Lang::Hi);
        assert_eq!(Lang::choose(Some("en"), &headers, Lang::Hi), Lang::En);
        assert_eq!(Lang::choose(Some("fr"), &headers, Lang::En), Lang::Hi);
        headers.insert(header::ACCEPT_LANGUAGE, "fr-FR, ta-IN;q=0.8, en;q=0.5".parse().unwrap());
        assert_eq!(Lang::from_headers(&headers), Some(Lang::Ta));
        assert_eq!(Lang::parse(" GU "), Some(Lang::Gu));
        assert_eq!(Lang::stored("xx"), Lang::En);
        for lang in Lang::ALL {
            assert_eq!(Lang::parse(lang.code()), Some(lang));
        }
    }
}
