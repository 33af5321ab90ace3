//! The QLink server library: configuration, migrations, and (later) the HTTP API and the
//! message worker. The `qlink` binary in main.rs is a thin CLI over it.

pub mod demo;
pub mod migrate;
