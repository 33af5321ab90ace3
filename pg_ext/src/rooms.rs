//! Setting a clinic up (SPEC §9): its queues (lines of patients) and rooms (where they are
//! called to). The clinic's owner and the operator call these; every change is in the
//! operator's audit trail, with whoever made it.

use crate::accounts::write_admin_audit;
use crate::db;
use crate::error::{refuse, refused, run, QError, QResult, Reason};
use crate::model::{Business, Queue};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{Inet, Uuid};

pub(crate) fn text_of(raw: Option<&str>, max: usize, reason: Reason) -> QResult<String> {
    let t = raw.unwrap_or("").trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(refused(reason));
    }
    Ok(t.to_string())
}

fn prefix(raw: &str) -> QResult<String> {
    let p = raw.trim();
    if p.len() <= 3 && p.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(p.to_string())
    } else {
        Err(refuse(
            Reason::InvalidPrefix,
            format!("\"{raw}\" is not a prefix: use 0 to 3 capital letters (A, B, DR …)."),
        ))
    }
}

fn sort_order(raw: Option<i32>) -> QResult<Option<i32>> {
    match raw {
        Some(n) if !(0..=1000).contains(&n) => {
            Err(refuse(Reason::InvalidArgument, "sort_order must be from 0 to 1000."))
        }
        other => Ok(other),
    }
}

/// This clinic's queues among `ids` (each once), or P0002 if any is not the clinic's.
fn clinic_queues(client: &SpiClient<'_>, business: &Business, ids: Option<Vec<Option<Uuid>>>) -> QResult<Vec<Uuid>> {
    let mut ids: Vec<Uuid> = ids.unwrap_or_default().into_iter().flatten().collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err(refused(Reason::RoomWithoutQueues));
    }
    let queues = Queue::all_of(client, business.id)?;
    if ids.iter().any(|id| !queues.iter().any(|q| q.id == *id)) {
        return Err(refused(Reason::QueueNotFound));
    }
    Ok(ids)
}

fn prefix_taken(p: &str) -> QError {
    if p.is_empty() {
        refuse(Reason::PrefixTaken, "Another queue of this clinic already has no prefix: give this one a letter.")
    } else {
        refuse(Reason::PrefixTaken, format!("Another queue of this clinic already uses the prefix {p}."))
    }
}

/// Adds a queue (a doctor's line, a lab) to the clinic; it starts active, last in order.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn create_queue(
    business_id: Option<Uuid>,
    name: Option<&str>,
    prefix: default!(Option<&str>, "''"),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<Uuid, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let name = text_of(name, 80, Reason::InvalidQueueName)?;
        let prefix = self::prefix(prefix.unwrap_or(""))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let id: Option<Uuid> = db::value(
                client,
                "INSERT INTO qlink.queues (business_id, name, prefix, sort_order, created_at, updated_at) \
                 SELECT $1, $2, $3, coalesce(max(sort_order) + 1, 0), $4, $4 FROM qlink.queues WHERE business_id = $1 \
                 ON CONFLICT (business_id, prefix) DO NOTHING RETURNING id",
                &[business.id.into(), name.as_str().into(), prefix.as_str().into(), now.into()],
            )?;
            let id = id.ok_or_else(|| prefix_taken(&prefix))?;
            let details = serde_json::json!({"queue_id": id.to_string(), "name": name, "prefix": prefix});
            write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "CREATE_QUEUE",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(id)
        })
    })
}

/// Changes a queue: only the arguments given. A clinic keeps at least one active queue.
// The SQL signature is the contract (sql/API.md): one argument per column, the actor last.
#[allow(clippy::too_many_arguments)]
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn update_queue(
    business_id: Option<Uuid>,
    queue_id: Option<Uuid>,
    name: default!(Option<&str>, "NULL"),
    prefix: default!(Option<&str>, "NULL"),
    is_active: default!(Option<bool>, "NULL"),
    sort_order: default!(Option<i32>, "NULL"),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<Uuid, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let name = name.map(|n| text_of(Some(n), 80, Reason::InvalidQueueName)).transpose()?;
        let prefix = prefix.map(self::prefix).transpose()?;
        let sort_order = self::sort_order(sort_order)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let queue_id = queue_id.ok_or_else(|| refused(Reason::QueueNotFound))?;
            // All the clinic's queue rows, so two owners cannot each deactivate "the other"
            // last queue at once.
            let table = db::exec(
                client,
                "SELECT id, is_active, prefix FROM qlink.queues WHERE business_id = $1 ORDER BY id FOR UPDATE",
                &[business.id.into()],
            )?;
            let mut rows: Vec<(Uuid, bool, String)> = Vec::new();
            for row in table {
                rows.push((row.get(1)?.expect("id"), row.get(2)?.expect("is_active"), row.get(3)?.expect("prefix")));
            }
            if !rows.iter().any(|r| r.0 == queue_id) {
                return Err(refused(Reason::QueueNotFound));
            }
            if is_active == Some(false) && !rows.iter().any(|r| r.0 != queue_id && r.1) {
                return Err(refused(Reason::LastActiveQueue));
            }
            if let Some(p) = prefix.as_deref() {
                if rows.iter().any(|r| r.0 != queue_id && r.2 == p) {
                    return Err(prefix_taken(p));
                }
            }
            db::exec(
                client,
                "UPDATE qlink.queues SET name = coalesce($2, name), prefix = coalesce($3, prefix), \
                     is_active = coalesce($4, is_active), sort_order = coalesce($5, sort_order), updated_at = $6 \
                 WHERE id = $1",
                &[
                    queue_id.into(),
                    name.as_deref().into(),
                    prefix.as_deref().into(),
                    is_active.into(),
                    sort_order.into(),
                    now.into(),
                ],
            )?;
            let mut details = serde_json::json!({"queue_id": queue_id.to_string()});
            for (key, value) in [
                ("name", name.map(Into::into)),
                ("prefix", prefix.map(Into::into)),
                ("is_active", is_active.map(Into::into)),
                ("sort_order", sort_order.map(Into::into)),
            ] {
                if let Some(v) = value {
                    details[key] = v;
                }
            }
            write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "UPDATE_QUEUE",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(queue_id)
        })
    })
}

/// Adds a room calling from the given queues of the clinic (at least one).
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn create_room(
    business_id: Option<Uuid>,
    name: Option<&str>,
    queue_ids: Option<Vec<Option<Uuid>>>,
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<Uuid, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let name = text_of(name, 40, Reason::InvalidRoomName)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let queues = clinic_queues(client, &business, queue_ids)?;
            let id: Option<Uuid> = db::value(
                client,
                "INSERT INTO qlink.rooms (business_id, name, sort_order, created_at, updated_at) \
                 SELECT $1, $2, coalesce(max(sort_order) + 1, 0), $3, $3 FROM qlink.rooms WHERE business_id = $1 \
                 ON CONFLICT (business_id, name) DO NOTHING RETURNING id",
                &[business.id.into(), name.as_str().into(), now.into()],
            )?;
            let id = id.ok_or_else(|| {
                refuse(Reason::RoomNameTaken, format!("This clinic already has a room called \"{name}\"."))
            })?;
            link(client, &business, id, &queues)?;
            let details = serde_json::json!({
                "room_id": id.to_string(), "name": name,
                "queue_ids": queues.iter().map(|q| q.to_string()).collect::<Vec<_>>(),
            });
            write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "CREATE_ROOM",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(id)
        })
    })
}

fn link(client: &mut SpiClient<'_>, business: &Business, room_id: Uuid, queues: &[Uuid]) -> QResult<()> {
    db::exec(
        client,
        "DELETE FROM qlink.room_queues WHERE room_id = $1 AND NOT (queue_id = ANY($2))",
        &[room_id.into(), queues.to_vec().into()],
    )?;
    db::exec(
        client,
        "INSERT INTO qlink.room_queues (business_id, room_id, queue_id) SELECT $1, $2, unnest($3::uuid[]) \
         ON CONFLICT DO NOTHING",
        &[business.id.into(), room_id.into(), queues.to_vec().into()],
    )?;
    Ok(())
}

/// Changes a room: only the arguments given (`queue_ids` replaces the room's queues). A room
/// serving a patient cannot be deactivated, nor lose the queue that patient came from.
// The SQL signature is the contract (sql/API.md): one argument per column, the actor last.
#[allow(clippy::too_many_arguments)]
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn update_room(
    business_id: Option<Uuid>,
    room_id: Option<Uuid>,
    name: default!(Option<&str>, "NULL"),
    queue_ids: default!(Option<Vec<Option<Uuid>>>, "NULL"),
    is_active: default!(Option<bool>, "NULL"),
    sort_order: default!(Option<i32>, "NULL"),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<Uuid, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        let name = name.map(|n| text_of(Some(n), 40, Reason::InvalidRoomName)).transpose()?;
        let sort_order = self::sort_order(sort_order)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let room_id = room_id.ok_or_else(|| refused(Reason::RoomNotFound))?;
            // The room's lock, as its NEXT takes it: no patient is called while it changes.
            db::first(
                client,
                "SELECT id FROM qlink.rooms WHERE id = $1 AND business_id = $2 FOR NO KEY UPDATE",
                &[room_id.into(), business.id.into()],
            )?
            .ok_or_else(|| refused(Reason::RoomNotFound))?;
            let queues = match queue_ids {
                Some(ids) => Some(clinic_queues(client, &business, Some(ids))?),
                None => None,
            };
            let serving_from: Option<Uuid> = db::value(
                client,
                "SELECT queue_id FROM qlink.tokens \
                 WHERE room_id = $1 AND day = ($2 AT TIME ZONE $3)::date AND status = 'SERVING'",
                &[room_id.into(), now.into(), business.timezone.as_str().into()],
            )?;
            if let Some(q) = serving_from {
                if is_active == Some(false) || queues.as_ref().is_some_and(|qs| !qs.contains(&q)) {
                    return Err(refused(Reason::RoomServing));
                }
            }
            if is_active == Some(false) {
                // All the clinic's room rows, so two owners cannot each deactivate "the other" last room.
                let others: i64 = db::value(
                    client,
                    "SELECT count(*) FROM (SELECT id FROM qlink.rooms WHERE business_id = $1 AND id <> $2 AND is_active \
                     ORDER BY id FOR NO KEY UPDATE) r",
                    &[business.id.into(), room_id.into()],
                )?
                .unwrap_or(0);
                if others == 0 {
                    return Err(refused(Reason::LastActiveRoom));
                }
            }
            if let Some(n) = name.as_deref() {
                let taken: bool = db::value(
                    client,
                    "SELECT EXISTS (SELECT 1 FROM qlink.rooms WHERE business_id = $1 AND name = $2 AND id <> $3)",
                    &[business.id.into(), n.into(), room_id.into()],
                )?
                .unwrap_or(false);
                if taken {
                    return Err(refuse(
                        Reason::RoomNameTaken,
                        format!("This clinic already has a room called \"{n}\"."),
                    ));
                }
            }
            db::exec(
                client,
                "UPDATE qlink.rooms SET name = coalesce($2, name), is_active = coalesce($3, is_active), \
                     sort_order = coalesce($4, sort_order), updated_at = $5 \
                 WHERE id = $1",
                &[room_id.into(), name.as_deref().into(), is_active.into(), sort_order.into(), now.into()],
            )?;
            if let Some(qs) = queues.as_ref() {
                link(client, &business, room_id, qs)?;
            }
            let mut details = serde_json::json!({"room_id": room_id.to_string()});
            if let Some(n) = name {
                details["name"] = n.into();
            }
            if let Some(qs) = queues {
                details["queue_ids"] = qs.iter().map(|q| q.to_string()).collect::<Vec<_>>().into();
            }
            if let Some(a) = is_active {
                details["is_active"] = a.into();
            }
            if let Some(s) = sort_order {
                details["sort_order"] = s.into();
            }
            write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "UPDATE_ROOM",
                Some(business.id.to_string()),
                details,
                now,
            )?;
            Ok(room_id)
        })
    })
}
