//! The `qlink` PostgreSQL extension: every queue rule of QLink as a `qlink.*` function.
//!
//! Tables, indexes and roles are created by the refinery migrations (`migrations/`); this
//! extension is the code that works on them. Each function is one transaction step of its
//! caller's transaction, runs as the extension owner (SECURITY DEFINER, fixed search_path)
//! and checks that everything it touches belongs to the clinic it was given.

// pgrx raises `ErrorReport` (large by design: message, detail, hint, location) and declares
// result columns as tuples inside `TableIterator`: both are the framework's shapes, not ours.
#![allow(clippy::result_large_err, clippy::type_complexity)]

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod accounts;
mod admin;
mod audit;
mod billing;
mod clock;
mod conversations;
mod db;
mod error;
mod eta;
mod holds;
mod kiosk;
mod login;
mod model;
mod outbox;
mod purge;
mod queue;
mod ratelimit;
mod reports;
mod rooms;
mod senders;
mod validate;
mod views;

#[cfg(any(test, feature = "pg_test"))]
mod tests;

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    clock::register();
}

/// The version of the SQL API this library implements; the server refuses to start
/// against a database whose installed extension differs.
#[pg_extern(immutable, parallel_safe)]
fn qlink_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
