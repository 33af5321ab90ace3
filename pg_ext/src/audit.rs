//! The audit trail. Every staff action stores the state of what it touched before and
//! after, which is also what UNDO walks back: it restores the `before` state of the most
//! recent not-yet-undone action of a room, exactly (statuses, timestamps, priority, line,
//! room, the sessions' status).

use crate::db::{self, col};
use crate::error::{refused, QResult, Reason};
use crate::model::{Business, Session, Token};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{JsonB, Uuid};

/// The session fields an action may change (besides what `Session::reread` derives).
fn session_snapshot(session: &Session) -> serde_json::Value {
    serde_json::json!({
        "id": session.id.to_string(),
        "status": session.status,
        "closed_at": session.closed_at.map(|t| serde_json::to_value(t).unwrap_or(serde_json::Value::Null)),
        "delay_minutes": session.delay_minutes,
        "delay_note": session.delay_note,
        "delay_announced_at": session.delay_announced_at.map(|t| serde_json::to_value(t).unwrap_or(serde_json::Value::Null)),
    })
}

/// The state of the sessions and of the given tokens, from what the action already holds
/// in memory (no query).
pub fn snapshot_of(sessions: &[&Session], tokens: &[&Token]) -> JsonB {
    JsonB(serde_json::json!({
        "sessions": sessions.iter().map(|s| session_snapshot(s)).collect::<Vec<_>>(),
        "tokens": tokens.iter().map(|t| t.snapshot.clone()).collect::<Vec<_>>(),
    }))
}

/// The same, with the token rows read from the database (for actions that touch many
/// tokens at once).
pub fn snapshot(client: &mut SpiClient<'_>, sessions: &[&Session], token_ids: &[Uuid]) -> QResult<JsonB> {
    let tokens: Option<JsonB> = db::value(
        client,
        "SELECT coalesce(jsonb_agg(jsonb_build_object( \
                 'id', id, 'token_number', token_number, 'status', status, \
                 'previous_status', previous_status, 'is_priority', is_priority, \
                 'called_at', called_at, 'served_at', served_at, 'cancelled_at', cancelled_at, \
                 'session_id', session_id, 'queue_id', queue_id, 'room_id', room_id, \
                 'line_seq', line_seq, 'line_at', line_at, 'held_at', held_at, 'held_until', held_until) \
                 ORDER BY line_at, line_seq), '[]'::jsonb) \
         FROM qlink.tokens WHERE id = ANY($1)",
        &[token_ids.to_vec().into()],
    )?;
    Ok(JsonB(serde_json::json!({
        "sessions": sessions.iter().map(|s| session_snapshot(s)).collect::<Vec<_>>(),
        "tokens": tokens.map(|t| t.0).unwrap_or_else(|| serde_json::json!([])),
    })))
}

pub struct Entry<'a> {
    pub business: &'a Business,
    pub session: Option<&'a Session>,
    /// The room the action was made in; None for a clinic-wide act.
    pub room_id: Option<Uuid>,
    pub staff_id: Option<Uuid>,
    pub actor: &'a str,
    pub action: &'a str,
    pub token_id: Option<Uuid>,
    pub before: Option<JsonB>,
    pub after: Option<JsonB>,
    pub undoable: bool,
}

pub fn record(client: &mut SpiClient<'_>, entry: Entry<'_>, now: TimestampWithTimeZone) -> QResult<i64> {
    let id: Option<i64> = db::value(
        client,
        "INSERT INTO qlink.audit_logs (business_id, session_id, staff_id, actor, action, token_id, \
             before_state, after_state, undoable, created_at, room_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        &[
            entry.business.id.into(),
            entry.session.map(|s| s.id).into(),
            entry.staff_id.into(),
            entry.actor.into(),
            entry.action.into(),
            entry.token_id.into(),
            entry.before.into(),
            entry.after.into(),
            entry.undoable.into(),
            now.into(),
            entry.room_id.into(),
        ],
    )?;
    Ok(id.expect("INSERT RETURNING id"))
}

/// The entry UNDO reverts in a room: its latest not-yet-undone action today, or a
/// clinic-wide act on its queues made since. `sessions` are today's sessions of the room's
/// queues (without a room: the clinic's).
const UNDO_TOP: &str = "SELECT a.id, a.action, t.token_number, t.token_label, a.token_id, a.session_id, \
         a.before_state, a.after_state \
     FROM qlink.audit_logs a LEFT JOIN qlink.tokens t ON t.id = a.token_id \
     WHERE a.session_id = ANY($1) AND a.undoable AND a.undone_at IS NULL \
       AND (a.room_id = $2 OR a.room_id IS NULL) \
     ORDER BY a.id DESC LIMIT 1";

/// What UNDO would revert next (for the dashboard's button label): action, the token's
/// number and label.
pub fn next_undo(
    client: &SpiClient<'_>,
    sessions: &[Uuid],
    room_id: Option<Uuid>,
) -> QResult<Option<(i64, String, Option<i32>, Option<String>)>> {
    let Some(row) = db::read_first(client, UNDO_TOP, &[sessions.to_vec().into(), room_id.into()])? else {
        return Ok(None);
    };
    Ok(Some((col(&row, 1)?, col(&row, 2)?, row.get(3)?, row.get(4)?)))
}

pub struct UndoEntry {
    pub id: i64,
    pub token_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub before: JsonB,
    pub after: JsonB,
}

impl UndoEntry {
    pub fn top(client: &mut SpiClient<'_>, sessions: &[Uuid], room_id: Option<Uuid>) -> QResult<UndoEntry> {
        let row = db::first(client, UNDO_TOP, &[sessions.to_vec().into(), room_id.into()])?
            .ok_or_else(|| refused(Reason::NothingToUndo))?;
        Ok(UndoEntry {
            id: col(&row, 1)?,
            token_id: row.get(5)?,
            session_id: row.get(6)?,
            before: col(&row, 7)?,
            after: col(&row, 8)?,
        })
    }

    /// Every session the entry touched: its own, and the lines its tokens were in before
    /// and after (a TRANSFER touches two). Entries written by 0.1 name only their own.
    pub fn session_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.session_id.into_iter().collect();
        for state in [&self.before.0, &self.after.0] {
            let tokens = state["tokens"].as_array().into_iter().flatten();
            let sessions = state["sessions"].as_array().into_iter().flatten();
            for id in tokens.map(|t| &t["session_id"]).chain(sessions.map(|s| &s["id"])) {
                if let Some(id) = id.as_str().and_then(|s| Uuid::from_slice(uuid_bytes(s).as_ref()?).ok()) {
                    ids.push(id);
                }
            }
        }
        ids.sort();
        ids.dedup();
        ids
    }

    /// Restores the entry's `before` state onto the locked `sessions` (every one of
    /// `session_ids`). Refused when something else changed those tokens since.
    pub fn revert(
        &self,
        client: &mut SpiClient<'_>,
        sessions: &mut [Session],
        now: TimestampWithTimeZone,
    ) -> QResult<()> {
        // Only undo if nobody (a patient cancelling, another room) has changed those tokens since.
        let drifted: Option<i64> = db::value(
            client,
            "SELECT count(*) FROM jsonb_array_elements($1 -> 'tokens') AS e \
             LEFT JOIN qlink.tokens t ON t.id = (e ->> 'id')::uuid \
             WHERE t.id IS NULL OR t.status IS DISTINCT FROM e ->> 'status' \
                OR t.is_priority IS DISTINCT FROM (e ->> 'is_priority')::boolean \
                OR (e ? 'session_id' AND t.session_id IS DISTINCT FROM (e ->> 'session_id')::uuid)",
            &[JsonB(self.after.0.clone()).into()],
        )?;
        if drifted.unwrap_or(0) > 0 {
            return Err(refused(Reason::UndoTokensChanged));
        }
        let locked: Vec<Uuid> = sessions.iter().map(|s| s.id).collect();
        // Tokens leaving SERVING first, so the one-SERVING index never sees two at once.
        // Keys an 0.1 entry does not have keep the token's current value.
        for serving_last in [false, true] {
            db::exec(
                client,
                "UPDATE qlink.tokens t SET status = e ->> 'status', previous_status = e ->> 'previous_status', \
                     is_priority = (e ->> 'is_priority')::boolean, called_at = (e ->> 'called_at')::timestamptz, \
                     served_at = (e ->> 'served_at')::timestamptz, \
                     cancelled_at = (e ->> 'cancelled_at')::timestamptz, \
                     session_id = CASE WHEN e ? 'session_id' THEN (e ->> 'session_id')::uuid ELSE t.session_id END, \
                     queue_id = CASE WHEN e ? 'queue_id' THEN (e ->> 'queue_id')::uuid ELSE t.queue_id END, \
                     room_id = CASE WHEN e ? 'room_id' THEN (e ->> 'room_id')::uuid ELSE t.room_id END, \
                     line_seq = CASE WHEN e ? 'line_seq' THEN (e ->> 'line_seq')::int ELSE t.line_seq END, \
                     line_at = CASE WHEN e ? 'line_at' THEN (e ->> 'line_at')::timestamptz ELSE t.line_at END, \
                     held_at = CASE WHEN e ? 'held_until' THEN (e ->> 'held_at')::timestamptz ELSE t.held_at END, \
                     held_until = CASE WHEN e ? 'held_until' THEN (e ->> 'held_until')::timestamptz ELSE t.held_until END, \
                     updated_at = $3 \
                 FROM jsonb_array_elements($1 -> 'tokens') AS e \
                 WHERE t.id = (e ->> 'id')::uuid AND t.session_id = ANY($2) AND (e ->> 'status' = 'SERVING') = $4",
                &[JsonB(self.before.0.clone()).into(), locked.clone().into(), now.into(), serving_last.into()],
            )?;
        }
        // Sessions: 0.1 entries hold one "session" (the entry's own), 0.2 entries a list.
        let mut states: Vec<(Option<Uuid>, &serde_json::Value)> = Vec::new();
        if let Some(one) = self.before.0.get("session") {
            states.push((self.session_id, one));
        }
        for s in self.before.0["sessions"].as_array().into_iter().flatten() {
            states.push((s["id"].as_str().and_then(|id| Uuid::from_slice(uuid_bytes(id).as_ref()?).ok()), s));
        }
        for (id, state) in states {
            let Some(session) = sessions.iter_mut().find(|s| Some(s.id) == id) else { continue };
            session.status = state["status"].as_str().unwrap_or("OPEN").to_string();
            session.closed_at = match state["closed_at"].as_str() {
                Some(text) => db::value(client, "SELECT $1::timestamptz", &[text.into()])?,
                None => None,
            };
            // Entries written before SPEC §12 have no delay: the session keeps its own.
            if state.get("delay_minutes").is_some() {
                session.delay_minutes = state["delay_minutes"].as_i64().map(|m| m as i32);
                session.delay_note = state["delay_note"].as_str().map(str::to_string);
                session.delay_announced_at = match state["delay_announced_at"].as_str() {
                    Some(text) => db::value(client, "SELECT $1::timestamptz", &[text.into()])?,
                    None => None,
                };
            }
        }
        Ok(())
    }
}

/// The 16 bytes of a textual uuid.
fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

pub fn mark_undone(
    client: &mut SpiClient<'_>,
    audit_id: i64,
    undone_by: i64,
    now: TimestampWithTimeZone,
) -> QResult<()> {
    db::exec(
        client,
        "UPDATE qlink.audit_logs SET undone_at = $3, undone_by = $2 WHERE id = $1",
        &[audit_id.into(), undone_by.into(), now.into()],
    )?;
    Ok(())
}
