-- The queue rules. Creating a C extension needs a superuser (or a DBA who ran this first).
CREATE EXTENSION IF NOT EXISTS qlink SCHEMA qlink;
