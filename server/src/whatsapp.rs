//! The WhatsApp Cloud API client (being built).
