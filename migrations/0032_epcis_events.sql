-- EPCIS events as partners see them. An event is published once (its content and its eventID,
-- GS1's hash of that content) and never rewritten: renaming a site or adding a GTIN later changes
-- no event a partner holds. A reversal of what an event recorded publishes a retraction (the same
-- eventID with an errorDeclaration) and, when some of it stands, a corrective event.
create table epcis_events (
    seq bigint generated always as identity primary key,
    -- receipt:<id>, shipment:<id>, movement:<id> (one posting of a run).
    event_key text not null,
    event_id text not null,
    event_time timestamptz not null,
    -- The ledger movements the event records, and the lots it names (for a trace's export).
    movements bigint[] not null,
    lots uuid[] not null,
    run_id uuid references production_runs (id),
    event jsonb not null,
    -- A retraction carries the eventID of the event it retracts.
    retraction boolean not null default false,
    -- Set once, when the retraction is published; the event itself never changes.
    retracted_at timestamptz,
    recorded_at timestamptz not null default clock_timestamp(),
    constraint epcis_events_retraction_shape check (not (retraction and retracted_at is not null))
);
create unique index epcis_events_current on epcis_events (event_key) where not retraction and retracted_at is null;
create unique index epcis_events_one_retraction on epcis_events (event_id) where retraction;
create index epcis_events_by_id on epcis_events (event_id);
create index epcis_events_time on epcis_events (event_time);
create index epcis_events_movements on epcis_events using gin (movements);
create index epcis_events_lots on epcis_events using gin (lots);
create index epcis_events_run on epcis_events (run_id) where run_id is not null;
create index stock_movements_recorded on stock_movements (recorded_at);

-- Only `retracted_at` may change, once; nothing is deleted.
create function epcis_events_append_only() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' and old.retracted_at is null and new.retracted_at is not null
       and (new.seq, new.event_key, new.event_id, new.event_time, new.movements, new.lots, new.event, new.retraction, new.recorded_at)
           is not distinct from
           (old.seq, old.event_key, old.event_id, old.event_time, old.movements, old.lots, old.event, old.retraction, old.recorded_at)
       and new.run_id is not distinct from old.run_id then
        return new;
    end if;
    raise exception 'published EPCIS events are not changed or deleted; a reversal publishes a retraction'
        using errcode = '55000';
end $$;
create trigger epcis_events_append_only before update or delete on epcis_events
    for each row execute function epcis_events_append_only();
create trigger epcis_events_no_truncate before truncate on epcis_events
    for each statement execute function refuse_change();

-- Where publishing looks for new postings from (movements recorded since, less a margin for
-- transactions still open).
create table epcis_publication (
    id boolean primary key default true check (id),
    watermark timestamptz
);
insert into epcis_publication default values;

-- Named queries (GS1 EPCIS 2.0 REST: POST /queries) and their webhook subscriptions.
create table epcis_queries (
    name text primary key check (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    query jsonb not null,
    created_by uuid references users (id),
    created_at timestamptz not null default now()
);

create table epcis_subscriptions (
    id uuid primary key,
    query_name text not null references epcis_queries (name) on delete cascade,
    dest text not null check (length(dest) between 8 and 2000),
    -- The subscriber's secret for the GS1-Signature header (HMAC-SHA256 of the body).
    signature_token text check (length(signature_token) between 1 and 500),
    -- The last published event (seq) delivered or passed over.
    delivered_seq bigint not null default 0,
    created_by uuid references users (id),
    created_at timestamptz not null default now(),
    last_notified_at timestamptz,
    last_error text,
    failures integer not null default 0,
    next_attempt_at timestamptz
);
