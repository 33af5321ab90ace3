//! The audit trail. Every staff action stores the state of what it touched before and
//! after, which is also what UNDO walks back: it restores the `before` state of the most
//! recent not-yet-undone action, exactly (statuses, timestamps, priority, the pointer).

use crate::db::{self, col};
use crate::error::{refused, QResult, Reason};
use crate::model::{Business, Session, Token};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{JsonB, Uuid};

/// The session fields an action may change.
fn session_snapshot(session: &Session) -> serde_json::Value {
    serde_json::json!({
        "status": session.status,
        "closed_at": session.closed_at.map(|t| serde_json::to_value(t).unwrap_or(serde_json::Value::Null)),
        "now_serving_number": session.now_serving_number,
    })
}

/// The state of the session and of the given tokens, from what the action already holds
/// in memory (no query).
pub fn snapshot_of(session: &Session, tokens: &[&Token]) -> JsonB {
    JsonB(serde_json::json!({
        "session": session_snapshot(session),
        "tokens": tokens.iter().map(|t| t.snapshot.clone()).collect::<Vec<_>>(),
    }))
}

/// The session fields and token rows an action may change, read from the database (for
/// actions that touch many tokens at once).
pub fn snapshot(client: &mut SpiClient<'_>, session: &Session, token_ids: &[Uuid]) -> QResult<JsonB> {
    let snap: Option<JsonB> = db::value(
        client,
        "SELECT jsonb_build_object( \
             'session', jsonb_build_object('status', $2::text, 'closed_at', $3::timestamptz, \
                                           'now_serving_number', $4::int), \
             'tokens', coalesce((SELECT jsonb_agg(jsonb_build_object( \
                     'id', id, 'token_number', token_number, 'status', status, \
                     'previous_status', previous_status, 'is_priority', is_priority, \
                     'called_at', called_at, 'served_at', served_at, 'cancelled_at', cancelled_at) \
                     ORDER BY token_number) \
                 FROM qlink.tokens WHERE id = ANY($1)), '[]'::jsonb))",
        &[
            token_ids.to_vec().into(),
            session.status.as_str().into(),
            session.closed_at.into(),
            session.now_serving_number.into(),
        ],
    )?;
    Ok(snap.expect("jsonb_build_object is never null"))
}

pub struct Entry<'a> {
    pub business: &'a Business,
    pub session: Option<&'a Session>,
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
             before_state, after_state, undoable, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
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
        ],
    )?;
    Ok(id.expect("INSERT RETURNING id"))
}

/// What UNDO would revert next (for the dashboard's button label), if anything.
pub fn next_undo(client: &mut SpiClient<'_>, session_id: Uuid) -> QResult<Option<(i64, String, Option<i32>)>> {
    let Some(row) = db::read_first(
        client,
        "SELECT a.id, a.action, t.token_number FROM qlink.audit_logs a \
         LEFT JOIN qlink.tokens t ON t.id = a.token_id \
         WHERE a.session_id = $1 AND a.undoable AND a.undone_at IS NULL \
         ORDER BY a.id DESC LIMIT 1",
        &[session_id.into()],
    )?
    else {
        return Ok(None);
    };
    Ok(Some((col(&row, 1)?, col(&row, 2)?, row.get(3)?)))
}

/// Reverts the most recent not-yet-undone action of the session. Returns the undone
/// entry's id and the token it was about.
pub fn undo_last(
    client: &mut SpiClient<'_>,
    session: &mut Session,
    now: TimestampWithTimeZone,
) -> QResult<(i64, Option<Uuid>, JsonB, JsonB)> {
    let row = db::first(
        client,
        "SELECT id, token_id, before_state, after_state FROM qlink.audit_logs \
         WHERE session_id = $1 AND undoable AND undone_at IS NULL ORDER BY id DESC LIMIT 1",
        &[session.id.into()],
    )?
    .ok_or_else(|| refused(Reason::NothingToUndo))?;
    let audit_id: i64 = col(&row, 1)?;
    let token_id: Option<Uuid> = row.get(2)?;
    let before: JsonB = col(&row, 3)?;
    let after: JsonB = col(&row, 4)?;

    // Only undo if nobody (a patient cancelling, say) has changed those tokens since.
    let drifted: Option<i64> = db::value(
        client,
        "SELECT count(*) FROM jsonb_to_recordset($1 -> 'tokens') AS r(id uuid, status text, is_priority boolean) \
         LEFT JOIN qlink.tokens t ON t.id = r.id \
         WHERE t.id IS NULL OR t.status IS DISTINCT FROM r.status OR t.is_priority IS DISTINCT FROM r.is_priority",
        &[JsonB(after.0.clone()).into()],
    )?;
    if drifted.unwrap_or(0) > 0 {
        return Err(refused(Reason::UndoTokensChanged));
    }

    // Tokens leaving SERVING first, so the one-SERVING index never sees two at once.
    for serving_last in [false, true] {
        db::exec(
            client,
            "UPDATE qlink.tokens t SET status = r.status, previous_status = r.previous_status, \
                 is_priority = r.is_priority, called_at = r.called_at, served_at = r.served_at, \
                 cancelled_at = r.cancelled_at, updated_at = $3 \
             FROM jsonb_to_recordset($1 -> 'tokens') AS r(id uuid, status text, previous_status text, \
                 is_priority boolean, called_at timestamptz, served_at timestamptz, cancelled_at timestamptz) \
             WHERE t.id = r.id AND t.session_id = $2 AND (r.status = 'SERVING') = $4",
            &[JsonB(before.0.clone()).into(), session.id.into(), now.into(), serving_last.into()],
        )?;
    }
    let s = &before.0["session"];
    session.status = s["status"].as_str().unwrap_or("OPEN").to_string();
    session.now_serving_number = s["now_serving_number"].as_i64().map(|n| n as i32);
    session.closed_at = match s["closed_at"].as_str() {
        Some(text) => db::value(client, "SELECT $1::timestamptz", &[text.into()])?,
        None => None,
    };
    Ok((audit_id, token_id, before, after))
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
