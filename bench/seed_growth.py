#!/usr/bin/env python3
"""Fills a migrated mcp-authd database with a "grown" dataset, so benchmarks can compare a
big database against an empty one (stdlib only; PostgreSQL through the `psql` client).

usage: seed_growth.py (--sqlite DATA_DIR/mcp-authd.db | --postgres URL)
                      [--clients 100000] [--users 100000] [--refresh-tokens 1000000]

Run it after `mcp-authd --data-dir DIR migrate` (or `DATABASE_URL=URL mcp-authd migrate`),
before or after the benchmark creates its own clients and user `bench`: seeded rows never
collide with those (usernames are `growth-user-NNNNNN`, client names `growth-client-NNNNNN`,
ids are hashes of a random per-run salt). Refuses a database that is already seeded.

What is seeded, and why:
- Clients: ~89% `dynamic` (RFC 7591: what MCP clients do; 90% of them public with
  `none`, 10% `client_secret_basic`; all with a registration access token hash), 10% `cimd`
  (the id is the https URL of the metadata document, no secret), 1% `cli` (operator-made,
  confidential). All may use authorization_code + refresh_token. Every client has
  `last_used_at` set: the server's unused-client sweep, which runs when `serve` starts,
  deletes dynamic and cimd clients never used within 7 days, and would otherwise delete
  them, and with them (by cascade) their grants and tokens, during the benchmark.
- Users: one grant each (user i consents to client i mod --clients, one MCP server,
  scope `mcp:tools`); password hashes are well-formed argon2id PHC strings that match no
  password, so a sign-in attempt costs what a real one does.
- Refresh tokens: all live (not rotated, revoked or expired) and spread evenly, 10 per
  grant with the defaults. Each token is its own family: rotation leaves exactly one
  unrotated token per family, so N live tokens are N families (N sign-ins, e.g. several
  devices or re-authorizations per person), each the first of its family (parent_hash NULL,
  as issued at the code exchange). Issued 1 minute to 29 days ago, so the idle expiry
  (issued + 30 days) and the family's absolute expiry (auth_time + 90 days, the defaults)
  are in the future and the expiry sweep keeps them; the access token issued beside each
  one has mostly expired, as in production.
- Shapes as in production: ids are 22 alphanumerics (opaque::new_id; here hex of a hash),
  token, secret and registration hashes are base64url (no padding) SHA-256 of a secret,
  43 characters (opaque::hash), JSON columns are compact like serde_json writes them.
  Times are spread with a multiplicative hash, so index order is not insertion order.

SQLite: one transaction of executemany, foreign keys on (so the dataset is checked),
synchronous=OFF, the journal mode left as the server set it (WAL), then ANALYZE and a
WAL checkpoint so the server starts with an empty WAL. PostgreSQL: one `psql` transaction of
INSERT ... SELECT FROM generate_series (rows made server-side, same formulas as the SQLite
path), foreign keys checked, then ANALYZE. Inserting (not dropping and rebuilding indexes)
keeps the indexes shaped as if grown in production. Inserts do not fire migration 0012's
client-cache triggers (they fire on UPDATE and DELETE), which is fine: a running cache
asks the database about ids it does not hold.
"""
import argparse
import base64
import hashlib
import os
import secrets
import sqlite3
import subprocess
import sys
import time

DAY = 86_400
RESOURCE = "https://mcp.growth.example/mcp"
SCOPE = "mcp:tools"
GRANT_TYPES = '["authorization_code","refresh_token"]'
ACCESS_TTL, IDLE_TTL, ABSOLUTE_TTL = 3_600, 30 * DAY, 90 * DAY  # the server's defaults
KNUTH = 2_654_435_761  # spread(i, span) = i * KNUTH % span: even, but not in insertion order
TABLES = ("clients", "users", "grants", "refresh_tokens")


# --- SQLite: rows made here ----------------------------------------------------------------
# Every formula below has its twin in POSTGRES_SQL; change both.

def spread(i, span):
    return i * KNUTH % span


def num(i):
    return f"{i + 1:06d}"


def source_of(c):
    return "cli" if c % 100 == 0 else "cimd" if c % 10 == 7 else "dynamic"


def sqlite_rows(salt, n_clients, n_users, n_tokens, now):
    def hid(kind, i):  # 22 characters like opaque::new_id
        return hashlib.md5(f"{salt}:{kind}:{i}".encode()).hexdigest()[:22]

    def digest(kind, i):
        return hashlib.sha256(f"{salt}:{kind}:{i}".encode()).digest()

    def b64url(kind, i):  # like opaque::hash
        return base64.urlsafe_b64encode(digest(kind, i)).rstrip(b"=").decode()

    def client_id(c):
        if source_of(c) == "cimd":
            return f"https://app{num(c)}.growth.example/oauth/client-metadata.json"
        return hid("client", c)

    def clients():
        for c in range(n_clients):
            source, name = source_of(c), f"growth-client-{num(c)}"
            secret = source == "cli" or c % 10 == 3
            redirect = {
                "dynamic": f"http://127.0.0.1:{33000 + c % 20000}/callback",
                "cimd": f"https://app{num(c)}.growth.example/callback",
                "cli": f"https://tool{num(c)}.growth.example/oauth/callback",
            }[source]
            created = now - 120 * DAY - spread(c, 60 * DAY)
            yield (
                client_id(c), name, source,
                "client_secret_basic" if secret else "none",
                b64url("secret", c) if secret else None,
                f'["{redirect}"]', GRANT_TYPES,
                "{}" if source == "cli" else f'{{"client_name":"{name}"}}',
                b64url("registration", c) if source == "dynamic" else None,
                created, created, now - spread(c, DAY),
            )

    def users():
        for u in range(n_users):
            d = digest("pw", u)
            salt_b64 = base64.b64encode(d[:16]).rstrip(b"=").decode()
            hash_b64 = base64.b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
            created = now - 60 * DAY - spread(u, 60 * DAY)
            yield (
                hid("user", u), f"growth-user-{num(u)}",
                f"$argon2id$v=19$m=19456,t=2,p=1${salt_b64}${hash_b64}", created, created,
            )

    def grants():  # grant g: user g, client g mod n_clients
        for g in range(n_users):
            created = now - 30 * DAY - spread(g, 30 * DAY)
            yield (
                hid("grant", g), hid("user", g), client_id(g % n_clients), RESOURCE, SCOPE,
                created, created, now - spread(g, DAY),
            )

    def refresh_tokens():  # token t: its own family, under grant t mod n_users
        for t in range(n_tokens):
            g = t % n_users
            issued = now - 60 - spread(t, 29 * DAY)
            auth = issued - 5
            yield (
                b64url("refresh", t), hid("family", t), hid("grant", g),
                client_id(g % n_clients), hid("user", g), RESOURCE, SCOPE, auth,
                hid("jti", t), issued + ACCESS_TTL, issued, issued + IDLE_TTL,
                auth + ABSOLUTE_TTL,
            )

    return {
        "clients": ("id, name, source, token_endpoint_auth_method, secret_hash, redirect_uris, "
                    "grant_types, metadata, registration_token_hash, created_at, updated_at, "
                    "last_used_at", clients()),
        "users": ("id, username, password_hash, created_at, updated_at", users()),
        "grants": ("id, user_id, client_id, resource, scope, created_at, updated_at, "
                   "last_used_at", grants()),
        "refresh_tokens": ("token_hash, family_id, grant_id, client_id, user_id, resource, "
                           "scope, auth_time, access_jti, access_expires_at, issued_at, "
                           "expires_at, family_expires_at", refresh_tokens()),
    }


def seed_sqlite(path, args, salt, now):
    if not os.path.exists(path):
        sys.exit(f"{path} does not exist: run `mcp-authd --data-dir DIR migrate` first")
    db = sqlite3.connect(path, isolation_level=None)
    check_migrated(lambda sql: db.execute(sql).fetchone()[0])
    for pragma in ("synchronous = OFF", "foreign_keys = ON", "cache_size = -524288",
                   "temp_store = MEMORY"):
        db.execute(f"PRAGMA {pragma}")
    started = time.monotonic()
    db.execute("BEGIN IMMEDIATE")
    for table, (columns, rows) in sqlite_rows(salt, args.clients, args.users,
                                              args.refresh_tokens, now).items():
        t0 = time.monotonic()
        marks = ", ".join("?" * len(columns.split(",")))
        n = db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows).rowcount
        print(f"  {table:15} {n:>9} rows  {time.monotonic() - t0:6.1f} s", flush=True)
    db.execute("COMMIT")
    inserted = time.monotonic() - started
    t0 = time.monotonic()
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    analyzed = time.monotonic() - t0
    counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    db.close()
    size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    return inserted, analyzed, counts, f"{size / 2**20:.0f} MiB ({path})"


# --- PostgreSQL: rows made by the server ---------------------------------------------------

POSTGRES_SQL = """
SET LOCAL synchronous_commit = off;
CREATE FUNCTION pg_temp.hid(kind text, i bigint) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT substr(md5('{salt}:' || kind || ':' || i::text), 1, 22) $$;
CREATE FUNCTION pg_temp.digest(kind text, i bigint) RETURNS bytea STABLE LANGUAGE sql
    AS $$ SELECT sha256(convert_to('{salt}:' || kind || ':' || i::text, 'UTF8')) $$;
CREATE FUNCTION pg_temp.b64url(kind text, i bigint) RETURNS text STABLE LANGUAGE sql
    AS $$ SELECT rtrim(translate(encode(pg_temp.digest(kind, i), 'base64'), '+/', '-_'), '=') $$;
CREATE FUNCTION pg_temp.spread(i bigint, span bigint) RETURNS bigint IMMUTABLE LANGUAGE sql
    AS $$ SELECT i * {knuth} % span $$;
CREATE FUNCTION pg_temp.num(i bigint) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT lpad((i + 1)::text, greatest(6, length((i + 1)::text)), '0') $$;
CREATE FUNCTION pg_temp.source_of(c bigint) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT CASE WHEN c % 100 = 0 THEN 'cli' WHEN c % 10 = 7 THEN 'cimd' ELSE 'dynamic' END $$;
CREATE FUNCTION pg_temp.client_id(c bigint) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT CASE WHEN pg_temp.source_of(c) = 'cimd'
        THEN 'https://app' || pg_temp.num(c) || '.growth.example/oauth/client-metadata.json'
        ELSE pg_temp.hid('client', c) END $$;

INSERT INTO clients (id, name, source, token_endpoint_auth_method, secret_hash, redirect_uris,
    grant_types, metadata, registration_token_hash, created_at, updated_at, last_used_at)
SELECT pg_temp.client_id(c), name, source,
    CASE WHEN secret THEN 'client_secret_basic' ELSE 'none' END,
    CASE WHEN secret THEN pg_temp.b64url('secret', c) END,
    '["' || CASE source
        WHEN 'dynamic' THEN 'http://127.0.0.1:' || (33000 + c % 20000) || '/callback'
        WHEN 'cimd' THEN 'https://app' || pg_temp.num(c) || '.growth.example/callback'
        ELSE 'https://tool' || pg_temp.num(c) || '.growth.example/oauth/callback' END || '"]',
    '{grant_types}',
    CASE WHEN source = 'cli' THEN '{{}}' ELSE '{{"client_name":"' || name || '"}}' END,
    CASE WHEN source = 'dynamic' THEN pg_temp.b64url('registration', c) END,
    created, created, {now} - pg_temp.spread(c, {day})
FROM (SELECT c, pg_temp.source_of(c) AS source, 'growth-client-' || pg_temp.num(c) AS name,
             pg_temp.source_of(c) = 'cli' OR c % 10 = 3 AS secret,
             {now} - 120 * {day} - pg_temp.spread(c, 60 * {day}) AS created
      FROM generate_series(0::bigint, {clients} - 1) c) s;

INSERT INTO users (id, username, password_hash, created_at, updated_at)
SELECT pg_temp.hid('user', u), 'growth-user-' || pg_temp.num(u),
    '$argon2id$v=19$m=19456,t=2,p=1$' || rtrim(encode(substr(d, 1, 16), 'base64'), '=')
        || '$' || rtrim(encode(sha256(d), 'base64'), '='),
    created, created
FROM (SELECT u, pg_temp.digest('pw', u) AS d, {now} - 60 * {day} - pg_temp.spread(u, 60 * {day}) AS created
      FROM generate_series(0::bigint, {users} - 1) u) s;

INSERT INTO grants (id, user_id, client_id, resource, scope, created_at, updated_at, last_used_at)
SELECT pg_temp.hid('grant', g), pg_temp.hid('user', g), pg_temp.client_id(g % {clients}),
    '{resource}', '{scope}', created, created, {now} - pg_temp.spread(g, {day})
FROM (SELECT g, {now} - 30 * {day} - pg_temp.spread(g, 30 * {day}) AS created
      FROM generate_series(0::bigint, {users} - 1) g) s;

INSERT INTO refresh_tokens (token_hash, family_id, grant_id, client_id, user_id, resource, scope,
    auth_time, access_jti, access_expires_at, issued_at, expires_at, family_expires_at)
SELECT pg_temp.b64url('refresh', t), pg_temp.hid('family', t), pg_temp.hid('grant', g),
    pg_temp.client_id(g % {clients}), pg_temp.hid('user', g), '{resource}', '{scope}',
    issued - 5, pg_temp.hid('jti', t), issued + {access_ttl}, issued, issued + {idle_ttl},
    issued - 5 + {absolute_ttl}
FROM (SELECT t, t % {users} AS g, {now} - 60 - pg_temp.spread(t, 29 * {day}) AS issued
      FROM generate_series(0::bigint, {refresh_tokens} - 1) t) s;
"""


def psql(url, sql, *flags):
    done = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *flags, "-d", url],
                          input=sql, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"psql failed:\n{done.stderr}")
    return done.stdout.strip()


def seed_postgres(url, args, salt, now):
    check_migrated(lambda sql: psql(url, sql, "-At"))
    sql = POSTGRES_SQL.format(
        salt=salt, now=now, day=DAY, knuth=KNUTH, clients=args.clients, users=args.users,
        refresh_tokens=args.refresh_tokens, grant_types=GRANT_TYPES, resource=RESOURCE,
        scope=SCOPE, access_ttl=ACCESS_TTL, idle_ttl=IDLE_TTL, absolute_ttl=ABSOLUTE_TTL)
    started = time.monotonic()
    psql(url, sql, "--single-transaction")
    inserted = time.monotonic() - started
    t0 = time.monotonic()
    psql(url, f"ANALYZE {', '.join(TABLES)};")
    analyzed = time.monotonic() - t0
    counts = {t: int(psql(url, f"SELECT count(*) FROM {t}", "-At")) for t in TABLES}
    size = psql(url, "SELECT pg_size_pretty(pg_database_size(current_database()))", "-At")
    return inserted, analyzed, counts, f"{size} (database {url.rsplit('/', 1)[-1]})"


# --- both ----------------------------------------------------------------------------------

def check_migrated(scalar):
    """Refuses an unmigrated or already seeded database (`scalar` runs SQL, returns one value)."""
    try:
        version = int(scalar("SELECT max(version) FROM _sqlx_migrations WHERE success"))
    except (sqlite3.Error, SystemExit, TypeError, ValueError):
        sys.exit("the database is not migrated: run `mcp-authd migrate` first")
    if version < 12:
        sys.exit(f"the schema is at migration {version}; this script expects 12: migrate first")
    if str(scalar("SELECT count(*) FROM users WHERE username LIKE 'growth-user-%'")) != "0":
        sys.exit("the database is already seeded (growth-user-* exist)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    store = p.add_mutually_exclusive_group(required=True)
    store.add_argument("--sqlite", metavar="PATH", help="the SQLite file, DATA_DIR/mcp-authd.db")
    store.add_argument("--postgres", metavar="URL", help="postgres://user@host:port/db")
    p.add_argument("--clients", type=int, default=100_000)
    p.add_argument("--users", type=int, default=100_000, help="also the number of grants")
    p.add_argument("--refresh-tokens", type=int, default=1_000_000)
    args = p.parse_args()
    if min(args.clients, args.users) < 1 or args.refresh_tokens < 0:
        p.error("--clients and --users must be at least 1, --refresh-tokens at least 0")
    salt, now = secrets.token_hex(8), int(time.time())
    print(f"seeding {args.clients} clients, {args.users} users and grants, "
          f"{args.refresh_tokens} refresh tokens ({'sqlite' if args.sqlite else 'postgres'})",
          flush=True)
    seed = seed_sqlite if args.sqlite else seed_postgres
    inserted, analyzed, counts, size = seed(args.sqlite or args.postgres, args, salt, now)
    print(f"inserted in {inserted:.1f} s, ANALYZE in {analyzed:.1f} s; size {size}")
    print("rows now: " + ", ".join(f"{t} {n}" for t, n in counts.items()))


if __name__ == "__main__":
    main()
