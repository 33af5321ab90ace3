-- A rolling upgrade from 0.1 (README, "Upgrading"): 0.2's staff, owner and operator
-- functions act only for the login they are given, and a 0.1 server gives none. So that
-- the servers still on 0.1 keep working the desk while they are restarted one by one, the
-- web role's calls without a login are taken as 0.1 took them for one hour after this
-- migration, on an installation that already has clinics. A fresh installation has no
-- window. The owner ends it at once with
--   UPDATE qlink.installation_limits SET calls_without_login_until = NULL;
ALTER TABLE qlink.installation_limits ADD COLUMN calls_without_login_until timestamptz;
UPDATE qlink.installation_limits SET calls_without_login_until = now() + interval '1 hour'
WHERE EXISTS (SELECT 1 FROM qlink.businesses);
