//! The message worker (being built).
