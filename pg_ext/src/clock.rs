//! "Now" for the queue rules. Normally the transaction's start time (what `now()` says);
//! a superuser may set `qlink.clock_override` to replay a day at another time, which the
//! tests use to prove the clinic-local date rule.

use crate::db;
use crate::error::QResult;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::ffi::{CStr, CString};

const NAME: &CStr = c"qlink.clock_override";

static CLOCK_OVERRIDE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub fn register() {
    // Each release's library is its own file, so a backend that used the previous release
    // before `ALTER EXTENSION qlink UPDATE` loads this one beside it: that library already
    // defined the setting, and defining it twice is an error that would fail the call.
    if defined_by_another_library() {
        return;
    }
    GucRegistry::define_string_guc(
        NAME,
        c"Replaces now() in the queue rules (testing only).",
        c"A timestamptz literal. Superuser only; leave empty in production.",
        &CLOCK_OVERRIDE,
        GucContext::Suset,
        GucFlags::default(),
    );
}

fn defined_by_another_library() -> bool {
    // SAFETY: PostgreSQL 15's array of settings is valid for the life of the backend and
    // only read here, in this backend's one thread.
    unsafe {
        let vars = pg_sys::get_guc_variables();
        let count = usize::try_from(pg_sys::GetNumConfigOptions()).unwrap_or(0);
        (0..count).any(|i| {
            let var = *vars.add(i);
            !var.is_null()
                && CStr::from_ptr((*var).name) == NAME
                && (*var).flags & pg_sys::GUC_CUSTOM_PLACEHOLDER as i32 == 0
        })
    }
}

/// The override's current value, whichever library defined the setting.
fn override_text() -> Option<String> {
    // SAFETY: returns a pointer into the setting's current value (or NULL), valid until the
    // setting changes; it is copied at once.
    let raw = unsafe { pg_sys::GetConfigOption(NAME.as_ptr(), true, false) };
    if raw.is_null() {
        return None;
    }
    // SAFETY: a non-NULL result is a NUL-terminated string owned by the GUC machinery.
    let text = unsafe { CStr::from_ptr(raw) }.to_string_lossy().trim().to_string();
    (!text.is_empty()).then_some(text)
}

pub fn now(client: &SpiClient<'_>) -> QResult<TimestampWithTimeZone> {
    if let Some(text) = override_text() {
        let ts: Option<TimestampWithTimeZone> =
            db::read_value(client, "SELECT $1::timestamptz", &[text.as_str().into()])?;
        if let Some(ts) = ts {
            return Ok(ts);
        }
    }
    // SAFETY: reads the current transaction's start timestamp; always valid in a backend.
    let raw = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    Ok(TimestampWithTimeZone::try_from(raw).expect("transaction start time is finite"))
}
