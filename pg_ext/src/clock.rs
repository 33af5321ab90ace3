//! "Now" for the queue rules. Normally the transaction's start time (what `now()` says);
//! a superuser may set `qlink.clock_override` to replay a day at another time, which the
//! tests use to prove the clinic-local date rule.

use crate::db;
use crate::error::QResult;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::ffi::CString;

pub static CLOCK_OVERRIDE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub fn register() {
    GucRegistry::define_string_guc(
        c"qlink.clock_override",
        c"Replaces now() in the queue rules (testing only).",
        c"A timestamptz literal. Superuser only; leave empty in production.",
        &CLOCK_OVERRIDE,
        GucContext::Suset,
        GucFlags::default(),
    );
}

pub fn now(client: &SpiClient<'_>) -> QResult<TimestampWithTimeZone> {
    if let Some(text) = CLOCK_OVERRIDE.get() {
        let text = text.to_string_lossy().into_owned();
        if !text.trim().is_empty() {
            let ts: Option<TimestampWithTimeZone> =
                db::read_value(client, "SELECT $1::timestamptz", &[text.as_str().into()])?;
            if let Some(ts) = ts {
                return Ok(ts);
            }
        }
    }
    // SAFETY: reads the current transaction's start timestamp; always valid in a backend.
    let raw = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    Ok(TimestampWithTimeZone::try_from(raw).expect("transaction start time is finite"))
}
