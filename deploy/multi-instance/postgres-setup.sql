-- The database of a multi-instance twostep, run once as a PostgreSQL superuser:
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -f postgres-setup.sql
--   sudo -u postgres psql -c '\password twostep'        (or authenticate with certificates)
-- Role and database are called twostep unless given: psql -v role=NAME -v db=NAME -f ...
-- twostep creates and upgrades its own tables at start-up (instances take turns under an advisory
-- lock), so the role only needs to own its database. The test suite runs this file against a
-- throwaway cluster (tests/integration/postgres/pg_nginx.test.mjs).
\if :{?role}
\else
  \set role twostep
\endif
\if :{?db}
\else
  \set db twostep
\endif

CREATE ROLE :"role" LOGIN;
-- Each instance holds database.pool_size connections plus one for LISTEN/NOTIFY; the limit keeps
-- a misconfigured instance from taking the connections other users of this server need.
-- 2 instances × (4 + 1) = 10, plus room for `twostep` CLI commands and a restarted instance
-- overlapping its predecessor. docs/sizing.md has the arithmetic.
ALTER ROLE :"role" CONNECTION LIMIT 24;
-- READ COMMITTED is what twostep's use-once writes are written for.
ALTER ROLE :"role" SET default_transaction_isolation = 'read committed';
-- A statement waiting longer than this for a lock is answered 503 rather than holding a worker
-- thread; twostep's own statements take milliseconds. It never idles inside a transaction.
ALTER ROLE :"role" SET lock_timeout = '5s';
ALTER ROLE :"role" SET idle_in_transaction_session_timeout = '30s';

CREATE DATABASE :"db" OWNER :"role" ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'
  TEMPLATE template0;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"role";

\connect :"db"
-- Only twostep creates objects here.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"role";
