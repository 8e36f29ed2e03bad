//! The schema, as migrations keyed by `PRAGMA user_version`. Append only: a released
//! migration is never edited, a change is a new one.

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE product (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        grp TEXT NOT NULL,
        description TEXT,
        owner TEXT,
        tags TEXT NOT NULL DEFAULT '[]',          -- JSON list
        dag_id TEXT NOT NULL,
        task_id TEXT,
        model TEXT,
        metrics TEXT NOT NULL,                    -- JSON list, display order
        slo REAL,
        max_age INTEGER,                          -- seconds
        active INTEGER NOT NULL DEFAULT 1,        -- in the poller's current product set
        checked_at INTEGER,
        note TEXT,
        evidence TEXT                             -- JSON, the latest evaluation's
    ) STRICT;

    -- Run-length state per product x metric; metric '' is the product's overall state.
    CREATE TABLE interval (
        id INTEGER PRIMARY KEY,
        product TEXT NOT NULL,
        metric TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('up', 'degraded', 'down', 'maintenance', 'unknown')),
        reason TEXT NOT NULL,
        evidence TEXT,
        start INTEGER NOT NULL,
        end INTEGER                               -- NULL while current
    ) STRICT;
    CREATE INDEX interval_by_product ON interval (product, metric, start);
    CREATE UNIQUE INDEX interval_current ON interval (product, metric) WHERE end IS NULL;
    CREATE INDEX interval_overall ON interval (product, start) WHERE metric = '';

    -- When a poller was watching: gaps between spans are "no data".
    CREATE TABLE coverage (
        id INTEGER PRIMARY KEY,
        start INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE poll (
        id INTEGER PRIMARY KEY,
        started INTEGER NOT NULL,
        finished INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        error TEXT,
        products INTEGER NOT NULL,
        airflow_requests INTEGER NOT NULL,
        dbt_requests INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX poll_by_time ON poll (started);

    -- Each refresh the pipeline made: the table's "response time" over time.
    CREATE TABLE refresh (
        product TEXT NOT NULL,
        finished INTEGER NOT NULL,
        dag_run_id TEXT NOT NULL,
        data_interval_end INTEGER,
        task_started INTEGER,
        dbt_run_id TEXT,
        PRIMARY KEY (product, finished)           -- one run finishes once: no second index needed
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE incident (
        id INTEGER PRIMARY KEY,
        product TEXT NOT NULL,
        title TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
        severity TEXT NOT NULL,
        metrics TEXT NOT NULL,                    -- JSON list of affected metrics
        began_at INTEGER NOT NULL,                -- when the evidence says it broke
        opened_at INTEGER NOT NULL,               -- when tablestat saw it
        resolved_at INTEGER,
        eta INTEGER
    ) STRICT;
    CREATE INDEX incident_by_product ON incident (product, opened_at);
    CREATE UNIQUE INDEX incident_open ON incident (product) WHERE resolved_at IS NULL;

    CREATE TABLE incident_update (
        id INTEGER PRIMARY KEY,
        incident INTEGER NOT NULL REFERENCES incident (id),
        at INTEGER NOT NULL,
        automatic INTEGER NOT NULL,
        status TEXT,
        message TEXT NOT NULL,
        eta INTEGER,
        author TEXT
    ) STRICT;
    CREATE INDEX incident_update_by_incident ON incident_update (incident, at);

    CREATE TABLE maintenance (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,                      -- 'all', 'group:<name>', 'product:<id>'
        starts_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL,
        message TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        author TEXT
    ) STRICT;

    -- One poller per database: the row is the lease.
    CREATE TABLE lease (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        holder TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        acquired_at INTEGER NOT NULL,
        heartbeat INTEGER NOT NULL
    ) STRICT;

    -- `generation` moves with every change people would see (polls, incidents, maintenance),
    -- not with lease heartbeats: viewers reload only when it moves.
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO meta (key, value) VALUES ('generation', 0);

    -- "Poll now" asked by a viewer, taken by the poller.
    CREATE TABLE poll_request (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        by TEXT NOT NULL
    ) STRICT;
    "#,
    // 2: notifications (an event log and per-target deliveries) and the flapping guard.
    r#"
    -- Consecutive polls with a metric down and no incident yet (incidents open after N).
    ALTER TABLE product ADD COLUMN down_polls INTEGER NOT NULL DEFAULT 0;

    -- What happened, for webhooks: written in the transaction that made it happen.
    CREATE TABLE event (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        dedupe TEXT UNIQUE,                       -- maintenance events are found by time, once
        payload TEXT NOT NULL                     -- JSON, the generic webhook body
    ) STRICT;

    -- One event to one webhook: pending until delivered, retried with backoff.
    CREATE TABLE delivery (
        event INTEGER NOT NULL REFERENCES event (id) ON DELETE CASCADE,
        target TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        delivered_at INTEGER,
        gave_up_at INTEGER,
        last_error TEXT,
        PRIMARY KEY (event, target)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX delivery_pending ON delivery (next_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;

    -- Events up to this id have their deliveries.
    INSERT INTO meta (key, value) VALUES ('events_routed', 0);
    "#,
    // 3: compact history. One change per product-metric per day over 90 days is 2.7 M rows
    // for 5,000 products: a row must cost ~16 bytes. Series (product x metric) and verdicts
    // (a state with its words) are interned, the end of a span is the start of the next (the
    // last is current), and rows cluster by series, so a product's history is one range.
    // Verdicts are found by a hash of their words (`tablestat_hash`, registered by the store).
    r#"
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        product TEXT NOT NULL,
        metric TEXT NOT NULL,                     -- '' is the product's overall state
        UNIQUE (product, metric)
    ) STRICT;
    CREATE TABLE verdict (
        id INTEGER PRIMARY KEY,
        state INTEGER NOT NULL,                   -- 0 down, 1 degraded, 2 unknown, 3 maintenance, 4 up
        text TEXT NOT NULL,
        hash INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX verdict_by_hash ON verdict (hash);
    CREATE TABLE span (
        series INTEGER NOT NULL,
        start INTEGER NOT NULL,
        verdict INTEGER NOT NULL,
        PRIMARY KEY (series, start)
    ) STRICT, WITHOUT ROWID;

    INSERT INTO series (product, metric) SELECT DISTINCT product, metric FROM interval ORDER BY product, metric;
    INSERT INTO verdict (state, text, hash)
        SELECT DISTINCT
               CASE state WHEN 'down' THEN 0 WHEN 'degraded' THEN 1 WHEN 'unknown' THEN 2
                          WHEN 'maintenance' THEN 3 ELSE 4 END,
               CASE metric WHEN '' THEN '' ELSE reason END, 0
        FROM interval;
    UPDATE verdict SET hash = tablestat_hash(state, text);
    INSERT OR REPLACE INTO span (series, start, verdict)
        SELECT s.id, i.start, v.id
        FROM interval i
        JOIN series s ON s.product = i.product AND s.metric = i.metric
        JOIN verdict v ON v.text = CASE i.metric WHEN '' THEN '' ELSE i.reason END
                      AND v.state = CASE i.state WHEN 'down' THEN 0 WHEN 'degraded' THEN 1 WHEN 'unknown' THEN 2
                                                 WHEN 'maintenance' THEN 3 ELSE 4 END
        ORDER BY i.product, i.metric, i.start, i.id;
    DROP TABLE interval;
    "#,
    // 4: what is current, kept where it is read. Every viewer asks for each series' current
    // span and each product's last refresh; found by `max` over millions of rows that took
    // most of the board's query. The writer keeps both in the transaction that changes them.
    r#"
    ALTER TABLE series ADD COLUMN start INTEGER;          -- the current span's start
    ALTER TABLE series ADD COLUMN verdict INTEGER;        -- and its verdict
    UPDATE series SET (start, verdict) =
        (SELECT start, verdict FROM span WHERE series = series.id ORDER BY start DESC LIMIT 1);
    ALTER TABLE product ADD COLUMN refreshed_at INTEGER;  -- the last refresh's finish
    UPDATE product SET refreshed_at = (SELECT max(finished) FROM refresh WHERE refresh.product = product.id);
    "#,
    // 5: verdicts are found by a map the writer builds from this table when it first needs
    // one; the hash column and its index were 3.5 MB of a 61 MB 90-day database.
    r#"
    DROP INDEX verdict_by_hash;
    ALTER TABLE verdict DROP COLUMN hash;
    "#,
    // 6: what readers need to tell fresh from stale: how often each product is meant to be
    // checked, and what each source said at the last poll (reachable, API, scheduler).
    r#"
    ALTER TABLE product ADD COLUMN poll_every INTEGER;    -- seconds, from the DAG's schedule
    CREATE TABLE source (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,                       -- 'airflow', 'dbt_cloud', 'dbt_local'
        reachable INTEGER NOT NULL,
        api TEXT,
        scheduler_status TEXT,
        scheduler_heartbeat INTEGER,
        error TEXT,
        checked_at INTEGER NOT NULL
    ) STRICT;
    "#,
    // 7: a window cancelled before it began keeps its plan ("was planned for 14:00–15:00,
    // cancelled at 13:10"); until now cancelling moved both ends to the moment of cancelling.
    r#"
    ALTER TABLE maintenance ADD COLUMN cancelled_at INTEGER;
    UPDATE maintenance SET cancelled_at = ends_at WHERE starts_at = ends_at;
    "#,
    // 8: several sources: since when each has been unreachable ("marketing unreachable
    // for 4 min"), kept across polls by the writer.
    r#"
    ALTER TABLE source ADD COLUMN failing_since INTEGER;
    "#,
    // 9: why an incident was closed and by whom (`fixed` for those that resolved by
    // themselves), who took it and when; and whether a product's `expected` incidents
    // leave its uptime.
    r#"
    ALTER TABLE incident ADD COLUMN resolution TEXT;      -- fixed, expected, false-positive, upstream
    ALTER TABLE incident ADD COLUMN resolved_by TEXT;     -- NULL: tablestat
    ALTER TABLE incident ADD COLUMN resolution_note TEXT;
    ALTER TABLE incident ADD COLUMN acknowledged_at INTEGER;
    ALTER TABLE incident ADD COLUMN acknowledged_by TEXT;
    UPDATE incident SET resolution = 'fixed' WHERE resolved_at IS NOT NULL;
    CREATE INDEX incident_excluded ON incident (resolved_at) WHERE resolution IN ('false-positive', 'expected');
    ALTER TABLE product ADD COLUMN exclude_expected INTEGER NOT NULL DEFAULT 0;
    "#,
    // 10: an incident per root cause: the cause's key, and the tables it reached, each with
    // when it joined and when it was back. Every older incident had one table.
    r#"
    ALTER TABLE incident ADD COLUMN cause TEXT;
    ALTER TABLE incident ADD COLUMN exposures TEXT NOT NULL DEFAULT '[]';   -- JSON: what it reaches outside dbt
    CREATE TABLE incident_member (
        incident INTEGER NOT NULL,
        product TEXT NOT NULL,
        joined_at INTEGER NOT NULL,
        left_at INTEGER                           -- NULL while it is affected
    ) STRICT;
    CREATE INDEX member_of_incident ON incident_member (incident);
    -- A table is in one open incident at most; the one that opened an incident may be in
    -- another once it has left it.
    CREATE UNIQUE INDEX member_affected ON incident_member (product) WHERE left_at IS NULL;
    DROP INDEX incident_open;
    CREATE INDEX incident_open_by_cause ON incident (cause) WHERE resolved_at IS NULL;
    INSERT INTO incident_member (incident, product, joined_at, left_at)
        SELECT id, product, opened_at, resolved_at FROM incident;
    "#,
    // 11: a member row's id (its rowid, named), so that "in the order they joined" reads the
    // same on PostgreSQL, which has no rowid.
    r#"
    CREATE TABLE incident_member_11 (
        id INTEGER PRIMARY KEY,
        incident INTEGER NOT NULL,
        product TEXT NOT NULL,
        joined_at INTEGER NOT NULL,
        left_at INTEGER                           -- NULL while it is affected
    ) STRICT;
    INSERT INTO incident_member_11 (id, incident, product, joined_at, left_at)
        SELECT rowid, incident, product, joined_at, left_at FROM incident_member;
    DROP TABLE incident_member;
    ALTER TABLE incident_member_11 RENAME TO incident_member;
    CREATE INDEX member_of_incident ON incident_member (incident);
    CREATE UNIQUE INDEX member_affected ON incident_member (product) WHERE left_at IS NULL;
    "#,
];
