//! The WhatsApp delivery-status webhook (being built).
