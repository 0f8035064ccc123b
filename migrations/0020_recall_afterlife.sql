-- What a recall leaves behind when it closes, and what closing asks for.

-- The consumer notice outlives the case: on /check and the Digital Link a recalled lot shows its
-- notice until its expiry plus this margin (best-before food is eaten after its date), or, for a
-- lot without an expiry, until the recall's `public_until`; unless QA withdraws it, signed.
alter table materials
    add column recall_notice_days integer not null default 90 check (recall_notice_days between 0 and 3650);
alter table recalls
    add column public_until date,
    add column notice_withdrawn_at timestamptz,
    add column notice_withdrawn_by uuid references users,
    add column notice_withdrawn_reason text,
    add column notice_withdrawn_signature uuid references signatures,
    -- Check level B: the share of consignees to check, set for the case (above 10, below 100).
    add column check_percent numeric(5, 2) check (check_percent > 10 and check_percent < 100),
    -- Closed below its check level: QA's signed reason (the closing signature says so).
    add column close_override text,
    add constraint recalls_notice_withdrawn_shape check (
        (notice_withdrawn_at is null) = (notice_withdrawn_signature is null)
        and (notice_withdrawn_at is null) = (notice_withdrawn_reason is null)),
    add constraint recalls_close_override_shape check (close_override is null or status = 'closed');
update recalls set public_until = (opened_at + interval '2 years')::date;
alter table recalls alter column public_until set not null, alter column public_until set default (current_date + 730);
update recalls set check_percent = 25 where check_level = 'B';
alter table recalls add constraint recalls_check_percent_shape check ((check_level = 'B') = (check_percent is not null));

-- A recalled lot stays recalled until QA decides: a real recall's hold on a lot still in our hands
-- stays open after the recall closes, and is lifted only by a signed decision recorded here.
create table recall_decisions (
    id           bigint generated always as identity primary key,
    recall_id    uuid not null references recalls,
    lot_id       uuid not null references lots,
    decision     text not null check (decision in ('release', 'rework', 'destroy', 'return_to_supplier')),
    reason       text not null check (length(btrim(reason)) > 0),
    signature_id uuid not null references signatures,
    decided_by   uuid not null references users,
    decided_at   timestamptz not null default now()
);
create index recall_decisions_lot_idx on recall_decisions (lot_id);
create trigger recall_decisions_append_only before update or delete on recall_decisions
    for each row execute function refuse_change();
alter table lot_holds add column close_signature uuid references signatures;

-- "Recalled" is an open hold a real recall placed, whether the recall is open or closed: one
-- spelling, here and in `domain::status`.
create or replace function trace_open_holds(ids uuid[]) returns table (lot_id uuid, open_holds bigint, recalled boolean)
    language plpgsql stable
    set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
    set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
    return query
    select h.lot_id, count(*), bool_or(h.source = 'recall')
      from lot_holds h
     where h.lot_id = any(ids) and h.closed_at is null
     group by h.lot_id;
end
$$;
