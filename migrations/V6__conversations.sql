-- WhatsApp conversations (SPEC §11): per-clinic senders, the daily recipient cap of each
-- WhatsApp business account, messages patients send us, their replies and opt-outs.

-- A WhatsApp business account (WABA). Meta caps the unique people its numbers may start
-- conversations with per rolling 24 hours (tiers of 250, 2,000, 10,000, 100,000); every
-- number of one account shares that cap. `installation` is the account of the number in
-- the server's configuration (WHATSAPP_PHONE_NUMBER_ID), which has no row of its own.
CREATE TABLE qlink.whatsapp_accounts (
    waba_id               text PRIMARY KEY CHECK (waba_id = 'installation' OR waba_id ~ '^[0-9]{5,32}$'),
    daily_recipient_limit integer NOT NULL DEFAULT 250 CHECK (daily_recipient_limit BETWEEN 1 AND 1000000),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
INSERT INTO qlink.whatsapp_accounts (waba_id) VALUES ('installation');

-- A clinic's own sender number. The access token is sealed by the server
-- (XChaCha20-Poly1305 with QLINK_SECRET_KEY); the database never sees it in the clear.
CREATE TABLE qlink.whatsapp_senders (
    phone_number_id  text PRIMARY KEY CHECK (phone_number_id ~ '^[0-9]{5,32}$'),
    display_number   text NOT NULL CHECK (display_number ~ '^\+[1-9][0-9]{7,14}$'),
    waba_id          text NOT NULL REFERENCES qlink.whatsapp_accounts (waba_id),
    access_token_enc bytea CHECK (octet_length(access_token_enc) BETWEEN 1 AND 8192),
    rate_per_second  real CHECK (rate_per_second > 0 AND rate_per_second <= 1000),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE qlink.businesses
    ADD COLUMN whatsapp_phone_number_id text REFERENCES qlink.whatsapp_senders (phone_number_id);
CREATE INDEX businesses_whatsapp_sender ON qlink.businesses (whatsapp_phone_number_id)
    WHERE whatsapp_phone_number_id IS NOT NULL;

-- Replies (REPLY) go to people who wrote to us, who may belong to no clinic yet (a help
-- reply to a stranger); DELAY is the self-service notice of SPEC §12.
ALTER TABLE qlink.message_logs
    ALTER COLUMN business_id DROP NOT NULL,
    ADD COLUMN sender_phone_number_id text,
    DROP CONSTRAINT message_logs_message_type_check,
    ADD CONSTRAINT message_logs_message_type_check
        CHECK (message_type IN ('WELCOME', 'REMINDER', 'CALLED', 'REPLY', 'DELAY'));
-- The operator's per-sender backlog and the claim's round robin read due rows by sender.
CREATE INDEX message_logs_sender_due ON qlink.message_logs (sender_phone_number_id, next_attempt_at)
    WHERE status IN ('PENDING', 'FAILED');

ALTER TABLE qlink.tokens
    DROP CONSTRAINT tokens_source_check,
    ADD CONSTRAINT tokens_source_check CHECK (source IN ('QR', 'STAFF', 'API', 'WHATSAPP'));

-- Every message a patient sent us, once per wamid (Meta delivers webhooks at least once).
-- The text is kept short and is erased with the tokens by the retention purge.
CREATE TABLE qlink.inbound_messages (
    wamid           text PRIMARY KEY CHECK (length(wamid) BETWEEN 1 AND 256),
    phone_number_id text NOT NULL,
    from_phone      text,
    business_id     uuid REFERENCES qlink.businesses (id) ON DELETE SET NULL,
    token_id        uuid REFERENCES qlink.tokens (id) ON DELETE SET NULL,
    body            text CHECK (length(body) <= 1000),
    button_payload  text CHECK (length(button_payload) <= 256),
    command         text NOT NULL,
    outcome         text NOT NULL,
    reply_id        bigint,
    received_at     timestamptz NOT NULL,
    handled_at      timestamptz NOT NULL
);
CREATE INDEX inbound_messages_handled ON qlink.inbound_messages (handled_at);

-- A patient who wrote STOP to a clinic gets nothing more from it until START.
CREATE TABLE qlink.opt_outs (
    business_id  uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    phone        text NOT NULL,
    opted_out_at timestamptz NOT NULL,
    PRIMARY KEY (business_id, phone)
);

-- One row per (our number, their number): the 24-hour window they opened, when they last
-- got an unprompted help reply, and how many replies they got this hour.
CREATE TABLE qlink.conversations (
    phone_number_id    text NOT NULL,
    phone              text NOT NULL,
    last_inbound_at    timestamptz NOT NULL,
    last_help_at       timestamptz,
    replies_hour_start timestamptz NOT NULL,
    replies_in_hour    integer NOT NULL DEFAULT 0 CHECK (replies_in_hour >= 0),
    PRIMARY KEY (phone_number_id, phone)
);
CREATE INDEX conversations_last_inbound ON qlink.conversations (last_inbound_at);

-- The recipients each account has started a conversation with in the last 24 hours
-- (rows older than that are dead and removed by the claim and the purge).
CREATE TABLE qlink.recipient_windows (
    waba_id   text NOT NULL REFERENCES qlink.whatsapp_accounts (waba_id) ON DELETE CASCADE,
    phone     text NOT NULL,
    opened_at timestamptz NOT NULL,
    PRIMARY KEY (waba_id, phone)
);
CREATE INDEX recipient_windows_opened ON qlink.recipient_windows (waba_id, opened_at);

ALTER TABLE qlink.whatsapp_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.whatsapp_senders  ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.inbound_messages  ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.opt_outs          ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.conversations     ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.recipient_windows ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON qlink.whatsapp_accounts, qlink.whatsapp_senders, qlink.inbound_messages,
              qlink.opt_outs, qlink.conversations, qlink.recipient_windows FROM PUBLIC;

-- A patient writing STATUS or CANCEL is found by their number among today's tokens.
CREATE INDEX tokens_phone_day ON qlink.tokens (patient_phone, day) WHERE patient_phone IS NOT NULL;
