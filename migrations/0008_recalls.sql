-- Recalls as cases: a signed opening, a frozen scope per scoping, the customer log and the
-- per-lot accounting, a signed close; and the gate that makes a recall's scope and its holds
-- one consistent moment in the plant's history.

-- The scope lives in its own append-only table (one row per scoping: opening, a switch to
-- lot-level), not in the recall row, so a scope is never silently replaced.
alter table recalls drop column snapshot, drop column snapshot_hash, drop column snapshot_at;
alter table recalls
    add column opened_signature  uuid references signatures,
    add column closed_signature  uuid references signatures,
    -- Effectiveness-check level (21 CFR 7.42): A every consignee … E none.
    add column check_level       text not null default 'A' check (check_level in ('A', 'B', 'C', 'D', 'E')),
    -- Scoping out lots whose concentration of suspect material is below a threshold: off unless
    -- set, never for class I, with a reason and its own signature.
    add column threshold           numeric(12, 9) check (threshold > 0 and threshold < 1),
    add column threshold_reason    text,
    add column threshold_signature uuid references signatures,
    -- A drill's figure: when QA declared the report complete.
    add column report_completed_at timestamptz,
    add column report_completed_by uuid references users,
    add constraint recalls_threshold_class check (threshold is null or class is distinct from 'I'),
    add constraint recalls_threshold_shape check (
        (threshold is null) = (threshold_reason is null) and (threshold is null) = (threshold_signature is null)),
    add constraint recalls_closed_summary check (status <> 'closed' or length(btrim(coalesce(summary, ''))) > 0),
    add constraint recalls_supplier_shape check ((supplier_id is null) = (supplier_lot is null));

create table recall_scopes (
    id          bigint generated always as identity primary key,
    recall_id   uuid not null references recalls,
    mode        text not null check (mode in ('precise', 'lot_level')),
    reason      text not null check (length(btrim(reason)) > 0),
    -- The frozen document (JSON, see recall.rs `Scope`) exactly as hashed: the SHA-256 of
    -- these bytes is printed on the report, so anyone can check a printed report against it.
    document    text not null,
    hash        bytea not null,
    as_of       timestamptz not null,
    computed_ms integer not null check (computed_ms >= 0),
    created_by  uuid references users,
    signature_id uuid references signatures
);
create index recall_scopes_recall_idx on recall_scopes (recall_id, id);
create trigger recall_scopes_append_only before update or delete on recall_scopes
    for each row execute function refuse_change();

-- Notices and answers, as a log: what was sent to whom and how, and what came back.
drop table recall_notices;
create table recall_notices (
    id          bigint generated always as identity primary key,
    recall_id   uuid not null references recalls,
    party_id    uuid not null references parties,
    kind        text not null check (kind in ('notice', 'acknowledgement')),
    method      text not null check (method in ('email', 'phone', 'letter', 'fax', 'in_person', 'other')),
    occurred_at timestamptz not null,
    contact     text not null default '',
    notes       text not null default '',
    recorded_by uuid references users,
    recorded_at timestamptz not null default now()
);
create index recall_notices_recall_idx on recall_notices (recall_id, party_id, id);
create trigger recall_notices_append_only before update or delete on recall_notices
    for each row execute function refuse_change();

-- What a customer reports of one lot it received: destroyed, and still held (segregated, awaiting
-- return). Each report states the customer's figures at that time; the latest counts. Returned
-- quantities come from the returns flow (return lines against the customer's shipment lines).
create table recall_accounting (
    id                 bigint generated always as identity primary key,
    recall_id          uuid not null references recalls,
    party_id           uuid not null references parties,
    lot_id             uuid not null references lots,
    quantity_destroyed numeric(20, 6) not null check (quantity_destroyed >= 0),
    quantity_held      numeric(20, 6) not null check (quantity_held >= 0),
    reported_at        timestamptz not null,
    notes              text not null default '',
    recorded_by        uuid references users,
    recorded_at        timestamptz not null default now()
);
create index recall_accounting_idx on recall_accounting (recall_id, party_id, lot_id, id);
create trigger recall_accounting_append_only before update or delete on recall_accounting
    for each row execute function refuse_change();

-- A closed recall is read-only: nothing is added to its log, accounting or scopes.
create function recall_open_guard() returns trigger language plpgsql as $$
begin
    if exists (select 1 from recalls where id = new.recall_id and status = 'closed') then
        raise exception 'This recall is closed: it is read-only.'
            using errcode = 'check_violation', constraint = 'recall_closed';
    end if;
    return new;
end $$;
create trigger recall_scopes_open before insert on recall_scopes for each row execute function recall_open_guard();
create trigger recall_notices_open before insert on recall_notices for each row execute function recall_open_guard();
create trigger recall_accounting_open before insert on recall_accounting for each row execute function recall_open_guard();
create trigger recall_lots_open before insert or update on recall_lots for each row execute function recall_open_guard();

-- The recall gate. Opening a real recall takes this advisory lock exclusively
-- (`pg_advisory_xact_lock(7201)`); every statement that writes movements or genealogy links takes
-- it shared. So a recall waits for the postings in flight, computes its scope over a ledger that
-- cannot change meanwhile, places its holds and commits before any new posting proceeds; and the
-- posting, once through the gate, sees the holds (a new statement, a new snapshot). Postings do
-- not wait for each other: shared holders do not conflict.
--
-- After the gate, the same trigger refuses consuming or shipping a lot with an open hold: the
-- application checks first and says why; this is the backstop for the race between its check
-- and the insert.
create or replace function apply_movements() returns trigger language plpgsql as $$
declare
    held text;
begin
    perform pg_advisory_xact_lock_shared(7201);
    select m.code || ' ' || l.code into held
      from new_rows n
      join lot_holds h on h.lot_id = n.lot_id and h.closed_at is null
      join lots l on l.id = n.lot_id join materials m on m.id = l.material_id
     where n.kind in ('consume', 'ship')
     limit 1;
    if held is not null then
        raise exception 'Lot % is on hold: it cannot be consumed or shipped.', held
            using errcode = 'check_violation', constraint = 'lot_on_hold';
    end if;
    with delta as (
        select lot_id, location_id, sum(quantity) as quantity from new_rows group by lot_id, location_id
    ), updated as (
        update on_hand o set quantity = o.quantity + d.quantity, updated_at = now()
          from delta d where o.lot_id = d.lot_id and o.location_id = d.location_id
        returning o.lot_id, o.location_id
    )
    insert into on_hand (lot_id, location_id, quantity, updated_at)
    select d.lot_id, d.location_id, d.quantity, now() from delta d
     where not exists (select 1 from updated u where u.lot_id = d.lot_id and u.location_id = d.location_id)
    on conflict (lot_id, location_id) do update set quantity = on_hand.quantity + excluded.quantity, updated_at = now();
    return null;
end $$;

create function genealogy_gate() returns trigger language plpgsql as $$
begin
    perform pg_advisory_xact_lock_shared(7201);
    return null;
end $$;
create trigger genealogy_links_gate before insert on genealogy_links
    for each statement execute function genealogy_gate();
