-- Hardening (SPEC §13): per-address intake limits count an IPv6 address by its /64 (one
-- subscriber's network hands out any address within it) and also across every clinic of
-- the installation, so one network cannot fill clinic after clinic with fake patients
-- (each of whom costs the clinic a WhatsApp message). The across-clinics window's size is
-- the operator's: shared mobile IPv4 (carrier NAT) puts many honest patients behind one
-- address, so it is set per installation (qlink.set_intake_limit_across_clinics).
CREATE TABLE qlink.installation_limits (
    id                              boolean PRIMARY KEY DEFAULT true CHECK (id),
    intake_per_source_per_10min     integer NOT NULL DEFAULT 20
        CHECK (intake_per_source_per_10min BETWEEN 1 AND 100000),
    updated_at                      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO qlink.installation_limits DEFAULT VALUES;
REVOKE ALL ON qlink.installation_limits FROM PUBLIC;
