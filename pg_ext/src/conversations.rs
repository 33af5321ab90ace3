//! Messages patients send us on WhatsApp (SPEC §11): each is stored once per wamid and
//! acted on here, so the webhook only parses and forwards, and a DBA can replay one from
//! psql. Every answer is a REPLY outbox row; its words are the worker's, its facts ours.

use crate::db::{self, nullable};
use crate::error::{invalid_argument, run, QError, QResult};
use crate::outbox;
use crate::queue::{self, Intake};
use crate::validate;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::Uuid;
use serde_json::{json, Value};

/// Most characters of a patient's text kept (Meta allows 4,096).
const MAX_TEXT: usize = 1000;
const MAX_PAYLOAD: usize = 256;
/// Replies to one number per hour, whatever it writes: a loop or a prank costs the clinic
/// nothing beyond this.
const MAX_REPLIES_PER_HOUR: i32 = 20;
/// The name a WhatsApp token gets when the profile name is unusable.
const FALLBACK_NAME: &str = "WhatsApp patient";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Join,
    Status,
    Cancel,
    Late,
    Back,
    Stop,
    Start,
    Help,
    Other,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Join => "JOIN",
            Command::Status => "STATUS",
            Command::Cancel => "CANCEL",
            Command::Late => "LATE",
            Command::Back => "BACK",
            Command::Stop => "STOP",
            Command::Start => "START",
            Command::Help => "HELP",
            Command::Other => "OTHER",
        }
    }
}

/// What a message asks: the command, its argument (JOIN's code) and the language of the
/// word it was asked in (None for the English words, which every language's help names).
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub command: Command,
    pub argument: Option<String>,
    pub language: Option<&'static str>,
}

/// The commands' words in each patient language besides English. A word two languages share
/// (रद्द is Hindi and Marathi) names no language: the reply keeps the token's.
const WORDS: &[(&str, Command, Option<&str>)] = &[
    ("जुड़ें", Command::Join, Some("hi")),
    ("जुडें", Command::Join, Some("hi")),
    ("स्थिति", Command::Status, Some("hi")),
    ("रद्द", Command::Cancel, None),
    ("देर", Command::Late, Some("hi")),
    ("वापस", Command::Back, Some("hi")),
    ("रोकें", Command::Stop, Some("hi")),
    ("बंद", Command::Stop, Some("hi")),
    ("शुरू", Command::Start, Some("hi")),
    ("मदद", Command::Help, Some("hi")),
    ("சேர்", Command::Join, Some("ta")),
    ("நிலை", Command::Status, Some("ta")),
    ("ரத்து", Command::Cancel, Some("ta")),
    ("தாமதம்", Command::Late, Some("ta")),
    ("திரும்ப", Command::Back, Some("ta")),
    ("நிறுத்து", Command::Stop, Some("ta")),
    ("தொடங்கு", Command::Start, Some("ta")),
    ("உதவி", Command::Help, Some("ta")),
    ("చేరు", Command::Join, Some("te")),
    ("స్థితి", Command::Status, Some("te")),
    ("రద్దు", Command::Cancel, Some("te")),
    ("ఆలస్యం", Command::Late, Some("te")),
    ("తిరిగి", Command::Back, Some("te")),
    ("ఆపు", Command::Stop, Some("te")),
    ("ప్రారంభం", Command::Start, Some("te")),
    ("సహాయం", Command::Help, Some("te")),
    ("सामील", Command::Join, Some("mr")),
    ("स्थिती", Command::Status, Some("mr")),
    ("उशीर", Command::Late, Some("mr")),
    ("परत", Command::Back, Some("mr")),
    ("थांबा", Command::Stop, Some("mr")),
    ("सुरू", Command::Start, Some("mr")),
    ("मदत", Command::Help, Some("mr")),
    ("যোগ", Command::Join, Some("bn")),
    ("অবস্থা", Command::Status, Some("bn")),
    ("বাতিল", Command::Cancel, Some("bn")),
    ("দেরি", Command::Late, Some("bn")),
    ("ফিরেছি", Command::Back, Some("bn")),
    ("বন্ধ", Command::Stop, Some("bn")),
    ("শুরু", Command::Start, Some("bn")),
    ("সাহায্য", Command::Help, Some("bn")),
    ("ಸೇರು", Command::Join, Some("kn")),
    ("ಸ್ಥಿತಿ", Command::Status, Some("kn")),
    ("ರದ್ದು", Command::Cancel, Some("kn")),
    ("ತಡ", Command::Late, Some("kn")),
    ("ವಾಪಸ್", Command::Back, Some("kn")),
    ("ನಿಲ್ಲಿಸು", Command::Stop, Some("kn")),
    ("ಪ್ರಾರಂಭ", Command::Start, Some("kn")),
    ("ಸಹಾಯ", Command::Help, Some("kn")),
    ("જોડાઓ", Command::Join, Some("gu")),
    ("સ્થિતિ", Command::Status, Some("gu")),
    ("રદ", Command::Cancel, Some("gu")),
    ("મોડું", Command::Late, Some("gu")),
    ("પાછા", Command::Back, Some("gu")),
    ("બંધ", Command::Stop, Some("gu")),
    ("શરૂ", Command::Start, Some("gu")),
    ("મદદ", Command::Help, Some("gu")),
];

/// Reads the command from a quick-reply button's payload, else from the first word of the
/// text (English in any case, or a word of `WORDS`; surrounding punctuation ignored).
pub fn parse(text: Option<&str>, button_payload: Option<&str>) -> Parsed {
    let word = |w: &str| -> Option<(Command, Option<&'static str>)> {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric() && !is_indic_mark(c));
        let english = match w.to_uppercase().as_str() {
            "JOIN" => Some(Command::Join),
            "STATUS" => Some(Command::Status),
            "CANCEL" => Some(Command::Cancel),
            "LATE" => Some(Command::Late),
            "BACK" => Some(Command::Back),
            "STOP" | "UNSUBSCRIBE" => Some(Command::Stop),
            "START" => Some(Command::Start),
            "HELP" => Some(Command::Help),
            _ => None,
        };
        english
            .map(|c| (c, None))
            .or_else(|| WORDS.iter().find(|(native, ..)| *native == w).map(|(_, c, lang)| (*c, *lang)))
    };
    if let Some((command, language)) = button_payload.and_then(|p| word(p.split_whitespace().next().unwrap_or(""))) {
        return Parsed { command, argument: None, language };
    }
    let mut words = text.unwrap_or("").split_whitespace();
    match words.next().and_then(word) {
        Some((command, language)) => Parsed {
            command,
            argument: if command == Command::Join { words.next().map(str::to_string) } else { None },
            language,
        },
        None => Parsed { command: Command::Other, argument: None, language: None },
    }
}

/// The vowel signs, viramas and nuktas of the Indic scripts (Devanagari to Kannada) and the
/// zero-width joiners are not alphanumeric in Unicode's sense but belong to the word (रोकें
/// and நிறுத்து end in one); the danda (।) is punctuation.
fn is_indic_mark(c: char) -> bool {
    (('\u{0900}'..='\u{0CFF}').contains(&c) && !matches!(c, '\u{0964}' | '\u{0965}'))
        || c == '\u{200C}'
        || c == '\u{200D}'
}

/// At most `max` characters, without NULs (PostgreSQL text cannot hold them).
fn clip(raw: Option<&str>, max: usize) -> Option<String> {
    let s: String = raw?.chars().filter(|c| *c != '\0').take(max).collect();
    Some(s).filter(|s| !s.trim().is_empty())
}

/// `from` as a patient's phone (E.164), when it is one; None for a business-scoped user id.
fn phone_of(from: &str) -> Option<String> {
    let digits = from.trim().trim_start_matches('+');
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    validate::phone(&format!("+{digits}")).ok()
}

/// The clinic a message is about, as far as it decides the reply.
#[derive(Clone)]
struct Clinic {
    id: Uuid,
    name: String,
    language: String,
}

#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn handle_inbound(
    phone_number_id: Option<&str>,
    from_phone: Option<&str>,
    text: Option<&str>,
    button_payload: Option<&str>,
    wamid: Option<&str>,
    received_at: Option<TimestampWithTimeZone>,
    profile_name: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(handled, bool),
            name!(command, String),
            name!(outcome, String),
            name!(business_id, Option<Uuid>),
            name!(token_id, Option<Uuid>),
            name!(reply_id, Option<i64>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let wamid = wamid
            .map(str::trim)
            .filter(|w| (1..=256).contains(&w.len()) && !w.contains('\0'))
            .ok_or_else(|| invalid_argument("wamid is required (at most 256 characters)."))?;
        let number = phone_number_id
            .map(str::trim)
            .filter(|p| (1..=64).contains(&p.len()) && !p.contains('\0'))
            .ok_or_else(|| invalid_argument("phone_number_id is required."))?;
        let from = from_phone
            .map(str::trim)
            .filter(|p| (1..=128).contains(&p.len()) && !p.contains('\0'))
            .ok_or_else(|| invalid_argument("from_phone is required."))?;
        let body = clip(text, MAX_TEXT);
        let payload = clip(button_payload, MAX_PAYLOAD);
        let profile = clip(profile_name, 80);
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            // Meta may deliver one message twice at once: the second waits here, then sees it.
            db::exec(
                client,
                "SELECT pg_advisory_xact_lock(hashtextextended('qlink.inbound:' || $1, 0))",
                &[wamid.into()],
            )?;
            if let Some(row) = db::first(
                client,
                "SELECT command, outcome, business_id, token_id, reply_id FROM qlink.inbound_messages WHERE wamid = $1",
                &[wamid.into()],
            )? {
                return Ok(TableIterator::once((
                    false,
                    db::col(&row, 1)?,
                    db::col(&row, 2)?,
                    nullable(&row, 3)?,
                    nullable(&row, 4)?,
                    nullable(&row, 5)?,
                )));
            }
            let received = received_at.unwrap_or(now);
            let message = Inbound {
                number,
                from,
                phone: phone_of(from),
                parsed: parse(body.as_deref(), payload.as_deref()),
                profile: profile.as_deref(),
                received,
            };
            let handled = act(client, &message, now)?;
            db::exec(
                client,
                "INSERT INTO qlink.inbound_messages (wamid, phone_number_id, from_phone, business_id, token_id, body, \
                     button_payload, command, outcome, reply_id, received_at, handled_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    wamid.into(),
                    number.into(),
                    from.into(),
                    handled.business_id.into(),
                    handled.token_id.into(),
                    body.as_deref().into(),
                    payload.as_deref().into(),
                    message.parsed.command.name().into(),
                    handled.outcome.into(),
                    handled.reply_id.into(),
                    received.into(),
                    now.into(),
                ],
            )?;
            Ok(TableIterator::once((
                true,
                message.parsed.command.name().to_string(),
                handled.outcome.to_string(),
                handled.business_id,
                handled.token_id,
                handled.reply_id,
            )))
        })
    })
}

struct Inbound<'a> {
    number: &'a str,
    from: &'a str,
    phone: Option<String>,
    parsed: Parsed,
    profile: Option<&'a str>,
    received: TimestampWithTimeZone,
}

struct Handled {
    outcome: &'static str,
    business_id: Option<Uuid>,
    token_id: Option<Uuid>,
    reply_id: Option<i64>,
}

/// What the patient's message does, and the reply it gets.
fn act(client: &mut SpiClient<'_>, m: &Inbound<'_>, now: TimestampWithTimeZone) -> QResult<Handled> {
    // Our own number, or else the installation's (which speaks for every clinic without one).
    let sender: Option<String> = db::value(
        client,
        "SELECT phone_number_id FROM qlink.whatsapp_senders WHERE phone_number_id = $1",
        &[m.number.into()],
    )?;
    let sender = sender.as_deref();
    let key = m.phone.as_deref().unwrap_or(m.from);
    // The 24-hour window the patient opened, and this hour's reply count.
    let (replies, last_help): (i32, Option<TimestampWithTimeZone>) = {
        let row = db::first(
            client,
            "INSERT INTO qlink.conversations AS c (phone_number_id, phone, last_inbound_at, replies_hour_start) \
             VALUES (coalesce($1, ''), $2, $3, $4) \
             ON CONFLICT (phone_number_id, phone) DO UPDATE SET \
                 last_inbound_at = greatest(c.last_inbound_at, EXCLUDED.last_inbound_at), \
                 replies_hour_start = CASE WHEN c.replies_hour_start <= $4 - interval '1 hour' THEN $4 \
                                           ELSE c.replies_hour_start END, \
                 replies_in_hour = CASE WHEN c.replies_hour_start <= $4 - interval '1 hour' THEN 0 \
                                        ELSE c.replies_in_hour END \
             RETURNING c.replies_in_hour, c.last_help_at",
            &[sender.into(), key.into(), m.received.into(), now.into()],
        )?
        .expect("INSERT RETURNING");
        (db::col(&row, 1)?, nullable(&row, 2)?)
    };
    let command = m.parsed.command;
    let token = match command {
        Command::Join => None,
        _ => match m.phone.as_deref() {
            Some(phone) => todays_token(client, sender, phone, now)?,
            None => None,
        },
    };
    // JOIN's code, resolved once: the clinic (and line) it names among this number's.
    let joining = match (command, m.parsed.argument.as_deref()) {
        (Command::Join, Some(code)) => clinic_by_code(client, sender, code)?,
        _ => None,
    };
    // The clinic the message is about: JOIN's code, else the patient's token, else (on a
    // clinic's own number) that clinic.
    let mut clinic = match (&token, command) {
        (Some((_, business_id)), _) => Some(clinic(client, *business_id)?),
        (None, Command::Join) => joining.as_ref().map(|(c, _)| c.clone()),
        (None, _) => match sender {
            Some(id) => own_number_clinic(client, id)?,
            None => None,
        },
    };
    let mut handled = Handled {
        outcome: "help",
        business_id: clinic.as_ref().map(|c| c.id),
        token_id: token.map(|(t, _)| t),
        reply_id: None,
    };
    let opted_out = match (&clinic, m.phone.as_deref()) {
        (Some(c), Some(phone)) => outbox::opted_out(client, c.id, phone)?,
        _ => false,
    };
    if opted_out && !matches!(command, Command::Start | Command::Help) {
        handled.outcome = "opted_out";
        return Ok(handled);
    }
    let mut reply = json!({"kind": null});
    match command {
        Command::Join => {
            let joined = join(client, m, joining, now)?;
            handled.outcome = joined.outcome;
            handled.token_id = joined.token_id;
            if let Some(c) = joined.clinic {
                handled.business_id = Some(c.id);
                clinic = Some(c);
            }
            reply = joined.reply;
        }
        Command::Status => match handled.token_id {
            Some(token_id) => {
                handled.outcome = "status";
                reply = status_of(client, token_id)?;
            }
            None => handled.outcome = "no_token",
        },
        Command::Cancel => match handled.token_id {
            Some(token_id) => match queue::cancel_in(client, Some(token_id), now) {
                Ok(_) => {
                    handled.outcome = "cancelled";
                    reply = status_of(client, token_id)?;
                }
                Err(QError::Refused(r)) => {
                    handled.outcome = "not_cancellable";
                    reply = status_of(client, token_id)?;
                    reply["reason"] = json!(r.reason.name());
                }
                Err(e) => return Err(e),
            },
            None => handled.outcome = "no_token",
        },
        Command::Late => match handled.token_id {
            Some(token_id) => match crate::holds::hold_in(client, Some(token_id), None, now) {
                Ok(held) => {
                    handled.outcome = "held";
                    reply = status_of(client, token_id)?;
                    reply["hold_minutes"] = json!(held.minutes);
                }
                Err(QError::Refused(r)) => {
                    handled.outcome = "hold_refused";
                    reply = status_of(client, token_id)?;
                    reply["reason"] = json!(r.reason.name());
                }
                Err(e) => return Err(e),
            },
            None => handled.outcome = "no_token",
        },
        Command::Back => match handled.token_id {
            Some(token_id) => match crate::holds::return_in(client, Some(token_id), now) {
                Ok((_, outcome, _)) => {
                    handled.outcome = "returned";
                    reply = status_of(client, token_id)?;
                    reply["return_outcome"] = json!(outcome);
                }
                Err(QError::Refused(r)) => {
                    handled.outcome = "return_refused";
                    reply = status_of(client, token_id)?;
                    reply["reason"] = json!(r.reason.name());
                }
                Err(e) => return Err(e),
            },
            None => handled.outcome = "no_token",
        },
        Command::Stop => match (&clinic, m.phone.as_deref()) {
            (Some(c), Some(phone)) => {
                db::exec(
                    client,
                    "INSERT INTO qlink.opt_outs (business_id, phone, opted_out_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                    &[c.id.into(), phone.into(), now.into()],
                )?;
                handled.outcome = "stopped";
            }
            _ => handled.outcome = "no_token",
        },
        Command::Start => {
            if let Some(phone) = m.phone.as_deref() {
                // Every clinic this number speaks for that the patient stopped.
                let restarted: Option<Uuid> = db::value(
                    client,
                    "WITH gone AS ( \
                         DELETE FROM qlink.opt_outs o USING qlink.businesses b \
                         WHERE o.phone = $1 AND b.id = o.business_id \
                           AND b.whatsapp_phone_number_id IS NOT DISTINCT FROM $2 \
                         RETURNING o.business_id, o.opted_out_at) \
                     SELECT business_id FROM gone ORDER BY opted_out_at DESC LIMIT 1",
                    &[phone.into(), sender.into()],
                )?;
                if clinic.is_none() {
                    if let Some(id) = restarted {
                        clinic = Some(self::clinic(client, id)?);
                        handled.business_id = Some(id);
                    }
                }
            }
            handled.outcome = "started";
        }
        Command::Help => {}
        Command::Other => {
            let recent = match last_help {
                Some(at) => {
                    db::value(client, "SELECT $1 > $2 - interval '1 hour'", &[at.into(), now.into()])?.unwrap_or(false)
                }
                None => false,
            };
            if recent {
                handled.outcome = "quiet";
                return Ok(handled);
            }
        }
    }
    if replies >= MAX_REPLIES_PER_HOUR {
        handled.outcome = "reply_limit";
        return Ok(handled);
    }
    if handled.outcome == "help" {
        db::exec(
            client,
            "UPDATE qlink.conversations SET last_help_at = $3 WHERE phone_number_id = coalesce($1, '') AND phone = $2",
            &[sender.into(), key.into(), now.into()],
        )?;
    }
    reply["kind"] = json!(handled.outcome);
    if let Some(c) = &clinic {
        reply["clinic_name"] = json!(c.name);
    }
    if handled.token_id.is_some() && reply.get("token_id").is_none_or(Value::is_null) {
        reply["token_id"] = json!(handled.token_id.map(|t| t.to_string()));
    }
    reply["commands"] = json!(["JOIN", "STATUS", "CANCEL", "LATE", "BACK", "STOP", "START", "HELP"]);
    let language = match m.parsed.language {
        Some(l) => l.to_string(),
        None => match reply.get("language").and_then(Value::as_str) {
            Some(l) => l.to_string(),
            None => clinic.as_ref().map_or_else(|| "en".to_string(), |c| c.language.clone()),
        },
    };
    let reply_id = outbox::enqueue_reply(
        client,
        handled.business_id,
        handled.token_id,
        m.phone.as_deref().unwrap_or(m.from),
        &language,
        sender,
        reply,
        now,
    )?;
    db::exec(
        client,
        "UPDATE qlink.conversations SET replies_in_hour = replies_in_hour + 1 \
         WHERE phone_number_id = coalesce($1, '') AND phone = $2",
        &[sender.into(), key.into()],
    )?;
    handled.reply_id = Some(reply_id);
    Ok(handled)
}

struct Joined {
    outcome: &'static str,
    clinic: Option<Clinic>,
    token_id: Option<Uuid>,
    reply: Value,
}

/// `JOIN <code>`: a token for the number the message came from (Meta verified it), in the
/// clinic the code names, if that clinic is one this number speaks for.
fn join(
    client: &mut SpiClient<'_>,
    m: &Inbound<'_>,
    joining: Option<(Clinic, Option<Option<Uuid>>)>,
    now: TimestampWithTimeZone,
) -> QResult<Joined> {
    let refused = |clinic: Option<Clinic>, reason: &str| Joined {
        outcome: "refused",
        clinic,
        token_id: None,
        reply: json!({"kind": "refused", "reason": reason}),
    };
    let Some((clinic, queue_id)) = joining else {
        return Ok(refused(None, "unknown_clinic"));
    };
    let Some(phone) = m.phone.as_deref() else {
        return Ok(refused(Some(clinic), "no_phone"));
    };
    if queue_id == Some(None) {
        return Ok(refused(Some(clinic), "queue_not_found"));
    }
    let name = m.profile.and_then(|p| validate::patient_name(Some(p)).ok()).unwrap_or_else(|| FALLBACK_NAME.into());
    let language = m.parsed.language;
    let intake = Intake {
        business_id: Some(clinic.id),
        patient_name: Some(&name),
        patient_phone: Some(phone),
        source: "WHATSAPP",
        client_ip: None,
        is_priority: false,
        language,
        staff_id: None,
        queue_id: queue_id.flatten(),
        kiosk_id: None,
    };
    match queue::create_in(client, &intake, now) {
        Ok(created) => {
            let reply = json!({
                "kind": "joined",
                "token_id": created.token.id.to_string(),
                "token_label": created.token.label,
                "position": created.position,
                "people_ahead": created.people_ahead,
                "eta_min_minutes": created.eta.0,
                "eta_max_minutes": created.eta.1,
                "queue_name": created.queue_name,
                "language": created.token.language,
            });
            Ok(Joined { outcome: "joined", clinic: Some(clinic), token_id: Some(created.token.id), reply })
        }
        Err(QError::Refused(r)) => {
            let mut joined = refused(Some(clinic), r.reason.name());
            if r.reason == crate::error::Reason::QueueRequired {
                joined.reply["choices"] = line_codes(client, joined.clinic.as_ref().expect("clinic").id)?;
            }
            Ok(joined)
        }
        Err(e) => Err(e),
    }
}

/// The codes of a clinic's active lines (`slug/PREFIX`), for a JOIN that must choose.
fn line_codes(client: &mut SpiClient<'_>, business_id: Uuid) -> QResult<Value> {
    let codes: Option<Vec<String>> = db::value(
        client,
        "SELECT array_agg(b.slug || '/' || q.prefix || ' (' || q.name || ')' ORDER BY q.sort_order, q.name) \
         FROM qlink.queues q JOIN qlink.businesses b ON b.id = q.business_id \
         WHERE q.business_id = $1 AND q.is_active AND q.prefix <> ''",
        &[business_id.into()],
    )?;
    Ok(json!(codes.unwrap_or_default()))
}

/// The clinic a JOIN code names among the clinics this number speaks for, and the line when
/// the code names one (`Some(None)`: it names a line the clinic does not have).
fn clinic_by_code(
    client: &mut SpiClient<'_>,
    sender: Option<&str>,
    code: &str,
) -> QResult<Option<(Clinic, Option<Option<Uuid>>)>> {
    let code = code.trim().trim_matches(|c: char| c == '<' || c == '>' || c == '"');
    let (slug, prefix) = match code.split_once('/') {
        Some((slug, prefix)) => (slug, Some(prefix.trim().to_ascii_uppercase())),
        None => (code, None),
    };
    let slug = slug.trim().to_ascii_lowercase();
    if slug.is_empty() || slug.len() > 64 {
        return Ok(None);
    }
    let id: Option<Uuid> = db::value(
        client,
        "SELECT id FROM qlink.businesses WHERE slug = $1 AND whatsapp_phone_number_id IS NOT DISTINCT FROM $2",
        &[slug.as_str().into(), sender.into()],
    )?;
    let Some(id) = id else { return Ok(None) };
    let queue = match prefix {
        None => None,
        Some(prefix) => Some(db::value::<Uuid>(
            client,
            "SELECT id FROM qlink.queues WHERE business_id = $1 AND prefix = $2 AND is_active",
            &[id.into(), prefix.as_str().into()],
        )?),
    };
    Ok(Some((clinic(client, id)?, queue)))
}

fn clinic(client: &mut SpiClient<'_>, id: Uuid) -> QResult<Clinic> {
    // The clinic's settings as every rule reads them (defaults filled in by Settings).
    let business = crate::model::Business::load(client, Some(id))?;
    Ok(Clinic { id, name: business.name, language: business.settings.default_language })
}

/// The clinic of a clinic's own number, when exactly one clinic uses it.
fn own_number_clinic(client: &mut SpiClient<'_>, sender: &str) -> QResult<Option<Clinic>> {
    let id: Option<Uuid> = db::value(
        client,
        "SELECT (array_agg(id))[1] FROM qlink.businesses WHERE whatsapp_phone_number_id = $1 HAVING count(*) = 1",
        &[sender.into()],
    )?;
    id.map(|id| clinic(client, id)).transpose()
}

/// The patient's token of today among the clinics this number speaks for: the latest still
/// waiting or being served, else the latest.
fn todays_token(
    client: &mut SpiClient<'_>,
    sender: Option<&str>,
    phone: &str,
    now: TimestampWithTimeZone,
) -> QResult<Option<(Uuid, Uuid)>> {
    let row = db::first(
        client,
        "SELECT t.id, t.business_id FROM qlink.tokens t JOIN qlink.businesses b ON b.id = t.business_id \
         WHERE t.patient_phone = $1 AND b.whatsapp_phone_number_id IS NOT DISTINCT FROM $2 \
           AND t.day = ($3 AT TIME ZONE b.timezone)::date \
         ORDER BY t.status IN ('WAITING', 'SERVING') DESC, t.created_at DESC LIMIT 1",
        &[phone.into(), sender.into(), now.into()],
    )?;
    match row {
        Some(row) => Ok(Some((db::col(&row, 1)?, db::col(&row, 2)?))),
        None => Ok(None),
    }
}

/// What the tracking page shows, for a reply.
fn status_of(client: &mut SpiClient<'_>, token_id: Uuid) -> QResult<Value> {
    let row = db::first(
        client,
        "SELECT status, queue_position, people_ahead, eta_min_minutes, eta_max_minutes, token_label, language, \
                room_name, now_serving_label, held_until, hold_state, delay_minutes, delay_note \
         FROM qlink.token_status($1)",
        &[token_id.into()],
    )?
    .expect("token_status answers one row for an existing token");
    Ok(json!({
        "token_id": token_id.to_string(),
        "status": db::col::<String>(&row, 1)?,
        "position": nullable::<i32>(&row, 2)?,
        "people_ahead": nullable::<i32>(&row, 3)?,
        "eta_min_minutes": nullable::<i32>(&row, 4)?,
        "eta_max_minutes": nullable::<i32>(&row, 5)?,
        "token_label": db::col::<String>(&row, 6)?,
        "language": db::col::<String>(&row, 7)?,
        "room_name": nullable::<String>(&row, 8)?,
        "now_serving_label": nullable::<String>(&row, 9)?,
        "held_until": nullable::<TimestampWithTimeZone>(&row, 10)?.map(|t| serde_json::to_value(t).unwrap_or(Value::Null)),
        "hold_state": nullable::<String>(&row, 11)?,
        "delay_minutes": nullable::<i32>(&row, 12)?,
        "delay_note": nullable::<String>(&row, 13)?,
    }))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn commands_are_read_in_english_and_in_hindi_and_from_buttons() {
        let p = parse(Some("join sunrise-clinic"), None);
        assert_eq!((p.command, p.argument.as_deref(), p.language), (Command::Join, Some("sunrise-clinic"), None));
        assert_eq!(parse(Some("  Status?  "), None).command, Command::Status);
        assert_eq!(
            parse(Some("स्थिति"), None),
            Parsed { command: Command::Status, argument: None, language: Some("hi") }
        );
        assert_eq!(parse(Some("रोकें"), None).command, Command::Stop);
        assert_eq!(parse(Some("जुड़ें dr-mehta/A"), None).argument.as_deref(), Some("dr-mehta/A"));
        assert_eq!(parse(Some("hello there"), None).command, Command::Other);
        assert_eq!(parse(None, Some("CANCEL")).command, Command::Cancel);
        assert_eq!(parse(Some("STATUS"), Some("STOP")).command, Command::Stop);
        assert_eq!(parse(Some("😀 ✨"), None).command, Command::Other);
        assert_eq!(parse(Some(""), None).command, Command::Other);
    }

    #[test]
    fn every_patient_language_has_its_own_word_for_every_command() {
        let commands = [
            Command::Join,
            Command::Status,
            Command::Cancel,
            Command::Late,
            Command::Back,
            Command::Stop,
            Command::Start,
            Command::Help,
        ];
        for lang in ["hi", "ta", "te", "mr", "bn", "kn", "gu"] {
            for c in commands {
                // A shared word (None) serves each language that uses it.
                let has = WORDS.iter().any(|(_, w, l)| *w == c && l.is_none_or(|l| l == lang));
                assert!(has, "{lang} has no word for {}", c.name());
            }
        }
        assert_eq!(parse(Some("रद्द"), None).language, None, "Hindi and Marathi share it: the token's language");
        for (native, command, lang) in WORDS {
            let p = parse(Some(&format!("{native}!")), None);
            assert_eq!((p.command, p.language), (*command, *lang), "{native}");
            assert_eq!(WORDS.iter().filter(|(w, ..)| w == native).count(), 1, "{native} listed twice");
        }
        let p = parse(Some("சேர் sunrise-clinic"), None);
        assert_eq!((p.command, p.argument.as_deref(), p.language), (Command::Join, Some("sunrise-clinic"), Some("ta")));
        assert_eq!(parse(Some("ನಿಲ್ಲಿಸು"), None).command, Command::Stop);
        assert_eq!(parse(Some("ఆలస్యం."), None).command, Command::Late);
        assert_eq!(parse(Some("रद्द।"), None).command, Command::Cancel);
    }

    #[test]
    fn text_is_clipped_without_nuls_and_phones_are_normalised() {
        assert_eq!(clip(Some(&"अ".repeat(5000)), MAX_TEXT).unwrap().chars().count(), MAX_TEXT);
        assert_eq!(clip(Some("a\0b"), 10).as_deref(), Some("ab"));
        assert_eq!(clip(Some("   "), 10), None);
        assert_eq!(phone_of("919876543210").as_deref(), Some("+919876543210"));
        assert_eq!(phone_of("14155550123").as_deref(), Some("+14155550123"));
        assert_eq!(phone_of("IN.1234567890abcdef"), None);
    }
}
