//! SPI access: every statement goes through `exec`, which keeps one saved plan per
//! statement text and argument types for the life of the backend, so the hot paths
//! never re-parse or re-plan SQL.

use crate::error::QResult;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::PgOid;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiTupleTable};
use std::cell::RefCell;
use std::collections::HashMap;

/// A statement is identified by its (static) text's address and its argument types: cheap
/// to hash on every call, unlike the text itself.
type PlanKey = (usize, usize, u64);

fn plan_key(sql: &'static str, args: &[DatumWithOid<'_>]) -> PlanKey {
    let mut types = 0xcbf2_9ce4_8422_2325u64;
    for a in args {
        types = (types ^ u64::from(a.oid().to_u32())).wrapping_mul(0x0100_0000_01b3);
    }
    (sql.as_ptr() as usize, sql.len(), types)
}

thread_local! {
    static PLANS: RefCell<HashMap<PlanKey, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
    static READ_PLANS: RefCell<HashMap<PlanKey, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
}

/// Runs a read-only statement. Unlike `exec`, it never assigns a transaction id, so the
/// functions patients poll stay cheap (no WAL at commit) and run on a hot standby.
pub fn read<'conn>(
    client: &SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid<'_>],
) -> QResult<SpiTupleTable<'conn>> {
    let key = plan_key(sql, args);
    let cached = READ_PLANS.with(|plans| plans.borrow().contains_key(&key));
    if !cached {
        let oids: Vec<PgOid> = args.iter().map(|a| PgOid::from(a.oid())).collect();
        let plan = client.prepare(sql, &oids)?.keep();
        READ_PLANS.with(|plans| plans.borrow_mut().insert(key, plan));
    }
    READ_PLANS.with(|plans| {
        let plans = plans.borrow();
        let plan = plans.get(&key).expect("plan was just cached");
        Ok(client.select(plan, None, args)?)
    })
}

pub fn read_first<'conn>(
    client: &SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid<'_>],
) -> QResult<Option<SpiTupleTable<'conn>>> {
    let table = read(client, sql, args)?;
    if table.is_empty() {
        Ok(None)
    } else {
        Ok(Some(table.first()))
    }
}

pub fn read_value<T: FromDatum + IntoDatum>(
    client: &SpiClient<'_>,
    sql: &'static str,
    args: &[DatumWithOid<'_>],
) -> QResult<Option<T>> {
    match read_first(client, sql, args)? {
        Some(row) => Ok(row.get::<T>(1)?),
        None => Ok(None),
    }
}

pub fn exec<'conn>(
    client: &mut SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid<'_>],
) -> QResult<SpiTupleTable<'conn>> {
    let key = plan_key(sql, args);
    let cached = PLANS.with(|plans| plans.borrow().contains_key(&key));
    if !cached {
        let oids: Vec<PgOid> = args.iter().map(|a| PgOid::from(a.oid())).collect();
        let plan = client.prepare_mut(sql, &oids)?.keep();
        PLANS.with(|plans| plans.borrow_mut().insert(key, plan));
    }
    PLANS.with(|plans| {
        let plans = plans.borrow();
        let plan = plans.get(&key).expect("plan was just cached");
        Ok(client.update(plan, None, args)?)
    })
}

/// The first row of a statement's result, if any.
pub fn first<'conn>(
    client: &mut SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid<'_>],
) -> QResult<Option<SpiTupleTable<'conn>>> {
    let table = exec(client, sql, args)?;
    if table.is_empty() {
        Ok(None)
    } else {
        Ok(Some(table.first()))
    }
}

/// Reads a NOT NULL column.
pub fn col<T: FromDatum + IntoDatum>(row: &SpiTupleTable<'_>, ordinal: usize) -> QResult<T> {
    Ok(row.get::<T>(ordinal)?.ok_or(pgrx::spi::SpiError::NoTupleTable)?)
}

/// Reads a NOT NULL column of a row met while iterating a result.
pub fn field<T: FromDatum + IntoDatum>(row: &pgrx::spi::SpiHeapTupleData<'_>, ordinal: usize) -> QResult<T> {
    Ok(row.get::<T>(ordinal)?.ok_or(pgrx::spi::SpiError::NoTupleTable)?)
}

pub fn nullable<T: FromDatum + IntoDatum>(row: &SpiTupleTable<'_>, ordinal: usize) -> QResult<Option<T>> {
    Ok(row.get::<T>(ordinal)?)
}

/// A single value from a one-row, one-column statement.
pub fn value<T: FromDatum + IntoDatum>(
    client: &mut SpiClient<'_>,
    sql: &'static str,
    args: &[DatumWithOid<'_>],
) -> QResult<Option<T>> {
    match first(client, sql, args)? {
        Some(row) => Ok(row.get::<T>(1)?),
        None => Ok(None),
    }
}
