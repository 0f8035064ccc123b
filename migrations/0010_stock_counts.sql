-- Stock counts by lot: a count session per location, counted blind (the expected quantities are
-- frozen, and shown, only when the count is submitted), posted as 'count' movements with a reason.

create sequence count_number_seq;
create table stock_counts (
    id           uuid primary key default gen_random_uuid(),
    number       text not null,
    location_id  uuid not null references locations,
    status       text not null default 'open' check (status in ('open', 'submitted', 'posted')),
    opened_by    uuid references users,
    opened_at    timestamptz not null default now(),
    submitted_by uuid references users,
    submitted_at timestamptz,
    posted_by    uuid references users,
    posted_at    timestamptz,
    post_reason  text,
    updated_at   timestamptz not null default now(),
    version      integer not null default 1,
    constraint stock_counts_number_key unique (number),
    constraint stock_counts_submitted_shape check ((status = 'open') = (submitted_at is null)),
    constraint stock_counts_posted_shape check ((status = 'posted') = (posted_at is not null and length(btrim(post_reason)) > 0))
);
create index stock_counts_location_idx on stock_counts (location_id, opened_at);
create trigger stock_counts_touch before update on stock_counts for each row execute function touch_row();

-- One line per lot: what was counted (null: expected but not found), and — from submission —
-- what the ledger said was there.
create table stock_count_lines (
    id         bigint generated always as identity primary key,
    count_id   uuid not null references stock_counts,
    lot_id     uuid not null references lots,
    counted    numeric(20, 6) check (counted >= 0),
    expected   numeric(20, 6) check (expected >= 0),
    counted_by uuid references users,
    counted_at timestamptz,
    movement_id bigint references stock_movements,
    constraint stock_count_lines_lot_key unique (count_id, lot_id)
);

-- A posted count is read-only.
create function stock_count_lines_guard() returns trigger language plpgsql as $$
begin
    if exists (select 1 from stock_counts where id = coalesce(new.count_id, old.count_id) and status = 'posted')
       and not (tg_op = 'UPDATE' and new.movement_id is distinct from old.movement_id and old.movement_id is null) then
        raise exception 'This count is posted: it is read-only.' using errcode = 'check_violation', constraint = 'count_posted';
    end if;
    return coalesce(new, old);
end $$;
create trigger stock_count_lines_guard before insert or update or delete on stock_count_lines
    for each row execute function stock_count_lines_guard();

insert into permissions (code, description) values ('stock.count.post', 'Post stock-count variances as adjustments');
insert into role_permissions (role_code, permission_code) values ('qa', 'stock.count.post'), ('admin', 'stock.count.post');
