//! The QLink server library: configuration, database pools, the HTTP API and pages, and the
//! message worker. The `qlink` binary (main.rs) is a thin CLI over it. No queue rule lives
//! here: every rule is a `qlink.*` function of the extension.

pub mod accounts;
pub mod app;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod i18n;
pub mod migrate;
pub mod pages;
pub mod router;
pub mod serve;
pub mod sql;
pub mod webhook;
pub mod whatsapp;
pub mod worker;
