-- lotline: the whole domain schema (see docs/architecture.md).
-- Constraints guard the data; the application relies on them rather than repeating them.
-- Quantities are NUMERIC(20,6) in the material's unit of measure; times are timestamptz (UTC).

-- ---------------------------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------------------------

-- Every editable record carries `version` and `updated_at`; the trigger bumps both so that an
-- update made against a stale version (`... where id = $1 and version = $2`) matches no row.
create function touch_row() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    new.version := old.version + 1;
    return new;
end $$;

-- Append-only tables refuse UPDATE and DELETE (and TRUNCATE, by a statement trigger).
create function refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'table % is append-only: % is not allowed', tg_table_name, tg_op
        using errcode = 'insufficient_privilege';
end $$;

-- GS1 check digit (mod 10, weights 3,1,3,1… from the right) for GTIN-8/12/13/14 and GLN.
create function gs1_check_digit_ok(code text) returns boolean language sql immutable strict as $$
    select code ~ '^[0-9]+$' and (
        select (10 - sum(substr(code, length(code) - i, 1)::int * case when i % 2 = 1 then 3 else 1 end) % 10) % 10
        from generate_series(1, length(code) - 1) as i
    ) = substr(code, length(code), 1)::int
$$;

-- GS1 AI (10) lot codes: 1–20 characters of the 82-character set (CSET 82).
create function gs1_lot_code_ok(code text) returns boolean language sql immutable strict as $$
    select code ~ '^[!"%&''()*+,./0-9:;<=>?A-Z_a-z-]{1,20}$'
$$;

-- A time zone name PostgreSQL knows (used by a trigger: a CHECK may not call a stable function).
create function check_time_zone() returns trigger language plpgsql as $$
begin
    perform now() at time zone new.time_zone;
    return new;
exception when others then
    raise exception 'unknown time zone "%"', new.time_zone using errcode = 'check_violation',
        constraint = 'sites_time_zone_check';
end $$;

-- ---------------------------------------------------------------------------------------------
-- Accounts, permissions, sessions
-- ---------------------------------------------------------------------------------------------

create table permissions (
    code        text primary key,
    description text not null
);

create table roles (
    code        text primary key check (code ~ '^[a-z][a-z_]{1,30}$'),
    name        text not null,
    description text not null default ''
);

create table role_permissions (
    role_code       text not null references roles on delete cascade,
    permission_code text not null references permissions on delete cascade,
    primary key (role_code, permission_code)
);

create table users (
    id            uuid primary key default gen_random_uuid(),
    username      text not null check (username ~ '^[A-Za-z0-9._@-]{2,64}$'),
    display_name  text not null check (length(btrim(display_name)) between 1 and 200),
    email         text,
    password_hash text,
    active        boolean not null default true,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    version       integer not null default 1
);
create unique index users_username_key on users (lower(username));
create trigger users_touch before update on users for each row execute function touch_row();

create table user_roles (
    user_id   uuid not null references users on delete cascade,
    role_code text not null references roles,
    primary key (user_id, role_code)
);

-- The session cookie holds a random token; the table keeps only its SHA-256.
create table sessions (
    token_hash   bytea primary key,
    user_id      uuid not null references users on delete cascade,
    csrf_token   text not null,
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at   timestamptz not null,
    client_addr  text,
    user_agent   text
);
create index sessions_user_idx on sessions (user_id);
create index sessions_expires_idx on sessions (expires_at);

create table api_tokens (
    id           uuid primary key default gen_random_uuid(),
    user_id      uuid not null references users on delete cascade,
    name         text not null check (length(btrim(name)) between 1 and 100),
    token_hash   bytea not null unique,
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

-- Login throttling counters, per user name and per client address (shared by all app servers).
create table login_throttle (
    key          text primary key,
    failures     integer not null default 0 check (failures >= 0),
    window_start timestamptz not null default now(),
    locked_until timestamptz
);

-- Electronic signatures (21 CFR Part 11): who signed, with what meaning, for which record.
create table signatures (
    id          uuid primary key default gen_random_uuid(),
    user_id     uuid not null references users,
    meaning     text not null check (length(btrim(meaning)) > 0),
    entity_type text not null,
    entity_id   text not null,
    signed_at   timestamptz not null default now()
);
create index signatures_entity_idx on signatures (entity_type, entity_id);

-- ---------------------------------------------------------------------------------------------
-- Audit trail: append-only, each entry chained to the previous one by hash.
-- ---------------------------------------------------------------------------------------------

create table audit_log (
    id          bigint generated always as identity primary key,
    occurred_at timestamptz not null default now(),
    actor_id    uuid references users,
    actor_name  text not null,
    action      text not null,
    entity_type text not null,
    entity_id   text not null,
    reason      text,
    before      jsonb,
    after       jsonb,
    prev_hash   bytea,
    hash        bytea not null
);
create index audit_log_entity_idx on audit_log (entity_type, entity_id, id);
create index audit_log_actor_idx on audit_log (actor_id, id);
create index audit_log_time_idx on audit_log (occurred_at);
create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function refuse_change();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function refuse_change();

-- ---------------------------------------------------------------------------------------------
-- Master data: sites, locations, lines, units, materials, GTINs, parties
-- ---------------------------------------------------------------------------------------------

create table sites (
    id         uuid primary key default gen_random_uuid(),
    code       text not null check (code ~ '^[A-Z0-9][A-Z0-9-]{0,7}$'),
    name       text not null check (length(btrim(name)) between 1 and 200),
    address    text not null default '',
    gln        text check (gln ~ '^[0-9]{13}$' and gs1_check_digit_ok(gln)),
    time_zone  text not null default 'UTC',
    active     boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version    integer not null default 1,
    constraint sites_code_key unique (code)
);
create trigger sites_touch before update on sites for each row execute function touch_row();
create trigger sites_time_zone before insert or update of time_zone on sites
    for each row execute function check_time_zone();

create table locations (
    id         uuid primary key default gen_random_uuid(),
    site_id    uuid not null references sites,
    code       text not null check (code ~ '^[A-Z0-9][A-Z0-9._/-]{0,29}$'),
    name       text not null check (length(btrim(name)) between 1 and 200),
    kind       text not null check (kind in ('storage', 'receiving', 'quarantine', 'production', 'shipping')),
    active     boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version    integer not null default 1,
    constraint locations_site_code_key unique (site_id, code)
);
create trigger locations_touch before update on locations for each row execute function touch_row();

create table production_lines (
    id         uuid primary key default gen_random_uuid(),
    site_id    uuid not null references sites,
    code       text not null check (code ~ '^[A-Z0-9][A-Z0-9-]{0,3}$'),
    name       text not null,
    active     boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version    integer not null default 1,
    constraint production_lines_site_code_key unique (site_id, code)
);
create trigger production_lines_touch before update on production_lines for each row execute function touch_row();

-- Units of measure with their UN/ECE Recommendation 20 code (EPCIS) and, within a dimension,
-- the factor to the dimension's base unit (kg, L, piece) so that kg and g compare exactly.
create table units (
    code      text primary key,
    name      text not null,
    unece     text not null check (unece ~ '^[A-Z0-9]{2,3}$'),
    dimension text not null check (dimension in ('mass', 'volume', 'count')),
    to_base   numeric(20, 9) not null check (to_base > 0)
);
insert into units (code, name, unece, dimension, to_base) values
    ('kg', 'kilogram', 'KGM', 'mass', 1),
    ('g', 'gram', 'GRM', 'mass', 0.001),
    ('t', 'tonne', 'TNE', 'mass', 1000),
    ('lb', 'pound', 'LBR', 'mass', 0.45359237),
    ('L', 'litre', 'LTR', 'volume', 1),
    ('mL', 'millilitre', 'MLT', 'volume', 0.001),
    ('ea', 'piece', 'H87', 'count', 1),
    ('case', 'case', 'CS', 'count', 1),
    ('pallet', 'pallet', 'PX', 'count', 1);

create table materials (
    id                uuid primary key default gen_random_uuid(),
    code              text not null check (code ~ '^[A-Z0-9][A-Z0-9._-]{0,19}$'),
    name              text not null check (length(btrim(name)) between 1 and 200),
    kind              text not null check (kind in ('raw', 'packaging', 'intermediate', 'finished')),
    uom               text not null references units,
    -- Mass of one unit in kg: what lets a trace compare kg of flour with pieces of bread.
    mass_per_unit_kg  numeric(20, 6) check (mass_per_unit_kg > 0),
    shelf_life_days   integer check (shelf_life_days between 1 and 36500),
    expiry_policy     text not null default 'shelf_life' check (expiry_policy in ('shelf_life', 'earliest_input', 'none')),
    qa_required       boolean not null default true,
    -- On the FDA Food Traceability List: FSMA 204 records are kept for its lots.
    ftl               boolean not null default false,
    description       text not null default '',
    active            boolean not null default true,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    version           integer not null default 1,
    constraint materials_code_key unique (code)
);
create trigger materials_touch before update on materials for each row execute function touch_row();

create table material_gtins (
    gtin                  text primary key check (gtin ~ '^[0-9]{14}$' and gs1_check_digit_ok(gtin)),
    material_id           uuid not null references materials on delete cascade,
    pack_level            text not null default 'each' check (pack_level in ('each', 'inner', 'case', 'pallet')),
    units_per_pack        numeric(20, 6) not null default 1 check (units_per_pack > 0),
    -- Length of the GS1 company prefix, when known: needed to write LGTIN URNs.
    company_prefix_length smallint check (company_prefix_length between 4 and 12),
    created_at            timestamptz not null default now()
);
create index material_gtins_material_idx on material_gtins (material_id);

create table parties (
    id          uuid primary key default gen_random_uuid(),
    code        text not null check (code ~ '^[A-Z0-9][A-Z0-9._-]{0,19}$'),
    name        text not null check (length(btrim(name)) between 1 and 200),
    is_supplier boolean not null default false,
    is_customer boolean not null default false,
    address     text not null default '',
    country     text check (country ~ '^[A-Z]{2}$'),
    gln         text check (gln ~ '^[0-9]{13}$' and gs1_check_digit_ok(gln)),
    phone       text not null default '',
    email       text not null default '',
    notes       text not null default '',
    active      boolean not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    version     integer not null default 1,
    constraint parties_code_key unique (code),
    constraint parties_role_check check (is_supplier or is_customer)
);
create trigger parties_touch before update on parties for each row execute function touch_row();

-- The people a recall notice goes to.
create table party_contacts (
    id              uuid primary key default gen_random_uuid(),
    party_id        uuid not null references parties on delete cascade,
    name            text not null check (length(btrim(name)) between 1 and 200),
    role            text not null default '',
    phone           text not null default '',
    email           text not null default '',
    recall_contact  boolean not null default false,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    version         integer not null default 1
);
create index party_contacts_party_idx on party_contacts (party_id);
create trigger party_contacts_touch before update on party_contacts for each row execute function touch_row();

-- ---------------------------------------------------------------------------------------------
-- Lot-number rules and their sequences
-- ---------------------------------------------------------------------------------------------

create table lot_rules (
    id             uuid primary key default gen_random_uuid(),
    name           text not null check (length(btrim(name)) between 1 and 100),
    pattern        text not null check (length(pattern) between 1 and 200),
    scope          text not null check (scope in ('default', 'kind', 'material')),
    scope_kind     text check (scope_kind in ('raw', 'packaging', 'intermediate', 'finished')),
    scope_material uuid references materials,
    reset_period   text not null default 'never' check (reset_period in ('never', 'yearly', 'monthly', 'daily')),
    start_number   bigint not null default 1 check (start_number >= 0),
    active         boolean not null default true,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    version        integer not null default 1,
    constraint lot_rules_scope_shape check (
        (scope = 'default' and scope_kind is null and scope_material is null) or
        (scope = 'kind' and scope_kind is not null and scope_material is null) or
        (scope = 'material' and scope_kind is null and scope_material is not null))
);
create unique index lot_rules_one_default on lot_rules ((true)) where scope = 'default' and active;
create unique index lot_rules_one_per_kind on lot_rules (scope_kind) where scope = 'kind' and active;
create unique index lot_rules_one_per_material on lot_rules (scope_material) where scope = 'material' and active;
create trigger lot_rules_touch before update on lot_rules for each row execute function touch_row();

-- Next number per (rule, scope key, period key): e.g. (rule, material id, '2026-11-27').
create table lot_sequences (
    rule_id    uuid not null references lot_rules,
    scope_key  text not null,
    period_key text not null,
    next_value bigint not null check (next_value >= 0),
    primary key (rule_id, scope_key, period_key)
);

-- Numbers drawn but never used (a rolled-back creation, a skipped existing code).
create table lot_code_gaps (
    id         bigint generated always as identity primary key,
    rule_id    uuid not null references lot_rules,
    scope_key  text not null,
    period_key text not null,
    value      bigint not null,
    code       text,
    reason     text not null,
    logged_at  timestamptz not null default now()
);

-- ---------------------------------------------------------------------------------------------
-- Documents: receipts, production runs, shipments, returns
-- ---------------------------------------------------------------------------------------------

-- A posting form carries an idempotency key: the second submission finds its first result.
create table idempotency_keys (
    key        uuid primary key,
    operation  text not null,
    result     text not null,
    user_id    uuid references users,
    created_at timestamptz not null default now()
);

create sequence receipt_number_seq;
create table receipts (
    id            uuid primary key default gen_random_uuid(),
    number        text not null,
    site_id       uuid not null references sites,
    supplier_id   uuid not null references parties,
    received_at   timestamptz not null,
    order_ref     text not null default '',
    asn_ref       text not null default '',
    delivery_ref  text not null default '',
    notes         text not null default '',
    created_by    uuid references users,
    created_at    timestamptz not null default now(),
    constraint receipts_number_key unique (number)
);
create index receipts_supplier_idx on receipts (supplier_id, received_at);

create sequence run_number_seq;
create table production_runs (
    id                 uuid primary key default gen_random_uuid(),
    number             text not null,
    site_id            uuid not null references sites,
    line_id            uuid references production_lines,
    output_material_id uuid not null references materials,
    status             text not null default 'open' check (status in ('open', 'closed')),
    planned_quantity   numeric(20, 6) check (planned_quantity > 0),
    order_ref          text not null default '',
    notes              text not null default '',
    opened_at          timestamptz not null,
    opened_by          uuid references users,
    closed_at          timestamptz,
    closed_by          uuid references users,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    version            integer not null default 1,
    constraint production_runs_number_key unique (number),
    constraint production_runs_closed_shape check ((status = 'closed') = (closed_at is not null))
);
create index production_runs_open_idx on production_runs (site_id) where status = 'open';
create trigger production_runs_touch before update on production_runs for each row execute function touch_row();

create sequence shipment_number_seq;
create table shipments (
    id          uuid primary key default gen_random_uuid(),
    number      text not null,
    site_id     uuid not null references sites,
    customer_id uuid not null references parties,
    shipped_at  timestamptz not null,
    order_ref   text not null default '',
    bol_ref     text not null default '',
    asn_ref     text not null default '',
    notes       text not null default '',
    created_by  uuid references users,
    created_at  timestamptz not null default now(),
    constraint shipments_number_key unique (number)
);
create index shipments_customer_idx on shipments (customer_id, shipped_at);

-- ---------------------------------------------------------------------------------------------
-- Lots and their quality state
-- ---------------------------------------------------------------------------------------------

create table lots (
    id                uuid primary key default gen_random_uuid(),
    material_id       uuid not null references materials,
    code              text not null check (gs1_lot_code_ok(code)),
    origin            text not null check (origin in ('received', 'produced')),
    site_id           uuid not null references sites,
    -- The lot's own date (production or receipt), which may be back-dated; and its expiry.
    made_on           date not null,
    expires_on        date,
    supplier_id       uuid references parties,
    supplier_lot      text,
    receipt_id        uuid references receipts,
    run_id            uuid references production_runs,
    -- FSMA 204 traceability lot code and where it was assigned: for a received lot the
    -- supplier's code and site, for a produced lot ours.
    tlc               text not null,
    tlc_source        text not null,
    country_of_origin text check (country_of_origin ~ '^[A-Z]{2}$'),
    disposition       text not null default 'quarantine' check (disposition in ('quarantine', 'released', 'rejected')),
    notes             text not null default '',
    created_by        uuid references users,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    version           integer not null default 1,
    constraint lots_material_code_key unique (material_id, code),
    constraint lots_expiry_after_made check (expires_on is null or expires_on >= made_on),
    constraint lots_received_shape check (origin <> 'received' or run_id is null),
    constraint lots_produced_shape check (origin <> 'produced' or (supplier_id is null and receipt_id is null))
);
create index lots_code_idx on lots (code);
create index lots_supplier_lot_idx on lots (supplier_lot, supplier_id) where supplier_lot is not null;
create index lots_expires_idx on lots (expires_on) where expires_on is not null;
create index lots_run_idx on lots (run_id) where run_id is not null;
create trigger lots_touch before update on lots for each row execute function touch_row();

-- History of QA dispositions (quarantine → released | rejected), one row per decision.
create table lot_dispositions (
    id           bigint generated always as identity primary key,
    lot_id       uuid not null references lots,
    from_status  text check (from_status in ('quarantine', 'released', 'rejected')),
    to_status    text not null check (to_status in ('quarantine', 'released', 'rejected')),
    reason       text,
    decided_by   uuid references users,
    decided_at   timestamptz not null default now(),
    signature_id uuid references signatures
);
create index lot_dispositions_lot_idx on lot_dispositions (lot_id, id);
create trigger lot_dispositions_append_only before update or delete on lot_dispositions
    for each row execute function refuse_change();

create sequence recall_number_seq;
create table recalls (
    id                  uuid primary key default gen_random_uuid(),
    number              text not null,
    mock                boolean not null default false,
    class               text check (class in ('I', 'II', 'III')),
    status              text not null default 'open' check (status in ('open', 'closed')),
    reason              text not null check (length(btrim(reason)) > 0),
    mode                text not null default 'precise' check (mode in ('precise', 'lot_level')),
    -- A supplier's recall: the supplier and its lot code.
    supplier_id         uuid references parties,
    supplier_lot        text,
    public_instructions text not null default '',
    -- The frozen scope: computed in the transaction that places the holds.
    snapshot            jsonb,
    snapshot_hash       bytea,
    snapshot_at         timestamptz,
    summary             text,
    opened_at           timestamptz not null default now(),
    opened_by           uuid references users,
    closed_at           timestamptz,
    closed_by           uuid references users,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    version             integer not null default 1,
    constraint recalls_number_key unique (number),
    constraint recalls_class_shape check (mock or class is not null),
    constraint recalls_closed_shape check ((status = 'closed') = (closed_at is not null))
);
create trigger recalls_touch before update on recalls for each row execute function touch_row();

-- Lots named as the cause of a recall.
create table recall_suspects (
    recall_id uuid not null references recalls on delete cascade,
    lot_id    uuid not null references lots,
    primary key (recall_id, lot_id)
);

-- The scope of a recall, lot by lot, as frozen when it was opened (and any later change).
create table recall_lots (
    recall_id     uuid not null references recalls on delete cascade,
    lot_id        uuid not null references lots,
    depth         integer not null check (depth >= 0),
    share         numeric(20, 6),
    concentration numeric(12, 9) check (concentration between 0 and 1),
    excluded      boolean not null default false,
    exclude_reason text,
    primary key (recall_id, lot_id),
    constraint recall_lots_exclusion_reason check (not excluded or exclude_reason is not null)
);
create index recall_lots_lot_idx on recall_lots (lot_id);

-- Notices to customers and what they answered.
create table recall_notices (
    id            uuid primary key default gen_random_uuid(),
    recall_id     uuid not null references recalls on delete cascade,
    party_id      uuid not null references parties,
    method        text not null check (method in ('email', 'phone', 'letter', 'fax', 'in_person', 'other')),
    sent_at       timestamptz not null,
    acknowledged_at timestamptz,
    quantity_on_hand numeric(20, 6) check (quantity_on_hand >= 0),
    quantity_destroyed numeric(20, 6) check (quantity_destroyed >= 0),
    notes         text not null default '',
    recorded_by   uuid references users,
    created_at    timestamptz not null default now()
);
create index recall_notices_recall_idx on recall_notices (recall_id, party_id);

-- Holds are separate rows: a lot is held while any of its holds is open.
create table lot_holds (
    id           uuid primary key default gen_random_uuid(),
    lot_id       uuid not null references lots,
    source       text not null check (source in ('manual', 'recall', 'supplier_notice', 'qa')),
    recall_id    uuid references recalls,
    reason       text not null check (length(btrim(reason)) > 0),
    opened_by    uuid references users,
    opened_at    timestamptz not null default now(),
    closed_by    uuid references users,
    closed_at    timestamptz,
    close_reason text,
    constraint lot_holds_recall_shape check ((source = 'recall') = (recall_id is not null)),
    constraint lot_holds_close_shape check ((closed_at is null) = (close_reason is null))
);
create index lot_holds_open_idx on lot_holds (lot_id) where closed_at is null;
create index lot_holds_recall_idx on lot_holds (recall_id) where recall_id is not null;

create table qa_records (
    id          uuid primary key default gen_random_uuid(),
    lot_id      uuid not null references lots,
    kind        text not null check (kind in ('inspection', 'test', 'certificate')),
    name        text not null check (length(btrim(name)) between 1 and 200),
    result      text not null default '',
    specification text not null default '',
    reference   text not null default '',
    outcome     text not null check (outcome in ('pass', 'fail')),
    notes       text not null default '',
    performed_at timestamptz not null,
    recorded_by uuid references users,
    created_at  timestamptz not null default now()
);
create index qa_records_lot_idx on qa_records (lot_id, performed_at);
create trigger qa_records_append_only before update or delete on qa_records
    for each row execute function refuse_change();

-- ---------------------------------------------------------------------------------------------
-- Stock: the append-only ledger and the on-hand kept beside it
-- ---------------------------------------------------------------------------------------------

create sequence return_number_seq;
create table returns (
    id          uuid primary key default gen_random_uuid(),
    number      text not null,
    kind        text not null check (kind in ('from_customer', 'to_supplier')),
    party_id    uuid not null references parties,
    shipment_id uuid references shipments,
    recall_id   uuid references recalls,
    reason      text not null check (length(btrim(reason)) > 0),
    occurred_at timestamptz not null,
    created_by  uuid references users,
    created_at  timestamptz not null default now(),
    constraint returns_number_key unique (number)
);

create table stock_movements (
    id            bigint generated always as identity primary key,
    kind          text not null check (kind in ('receipt', 'consume', 'produce', 'ship', 'transfer', 'adjust', 'scrap', 'return', 'reversal', 'count')),
    lot_id        uuid not null references lots,
    location_id   uuid not null references locations,
    -- Signed: positive into the location, negative out of it.
    quantity      numeric(20, 6) not null check (quantity <> 0),
    occurred_at   timestamptz not null,
    recorded_at   timestamptz not null default now(),
    actor_id      uuid references users,
    -- Movements written by one operation share a posting id (a transfer's two legs, a run's posting).
    posting_id    uuid not null,
    receipt_id    uuid references receipts,
    run_id        uuid references production_runs,
    shipment_id   uuid references shipments,
    return_id     uuid references returns,
    recall_id     uuid references recalls,
    reverses_id   bigint references stock_movements,
    reason        text,
    constraint stock_movements_sign check (
        (kind in ('receipt', 'produce', 'return') and quantity > 0) or
        (kind in ('consume', 'ship', 'scrap') and quantity < 0) or
        kind in ('transfer', 'adjust', 'reversal', 'count')),
    constraint stock_movements_reason check (kind not in ('adjust', 'scrap', 'reversal', 'count') or length(btrim(reason)) > 0),
    constraint stock_movements_reversal_shape check ((kind = 'reversal') = (reverses_id is not null)),
    constraint stock_movements_run_shape check (kind not in ('consume', 'produce') or run_id is not null),
    constraint stock_movements_ship_shape check (kind <> 'ship' or shipment_id is not null)
);
create unique index stock_movements_reversed_once on stock_movements (reverses_id) where reverses_id is not null;
create index stock_movements_lot_idx on stock_movements (lot_id, id);
create index stock_movements_run_idx on stock_movements (run_id) where run_id is not null;
create index stock_movements_shipment_idx on stock_movements (shipment_id) where shipment_id is not null;
create index stock_movements_posting_idx on stock_movements (posting_id);
create trigger stock_movements_append_only before update or delete on stock_movements
    for each row execute function refuse_change();
create trigger stock_movements_no_truncate before truncate on stock_movements
    for each statement execute function refuse_change();

create table on_hand (
    lot_id      uuid not null references lots,
    location_id uuid not null references locations,
    quantity    numeric(20, 6) not null,
    updated_at  timestamptz not null default now(),
    primary key (lot_id, location_id),
    -- Two operators taking the last stock of a lot at once cannot both succeed.
    constraint on_hand_not_negative check (quantity >= 0)
);
create index on_hand_location_idx on on_hand (location_id) where quantity > 0;

-- Every movement moves on-hand in the same statement: the ledger and the stock cannot disagree.
create function apply_movement() returns trigger language plpgsql as $$
begin
    -- A CHECK is evaluated on the proposed row before ON CONFLICT is considered, so an outgoing
    -- (negative) movement updates the existing row; only an incoming one may create it.
    update on_hand set quantity = quantity + new.quantity, updated_at = now()
     where lot_id = new.lot_id and location_id = new.location_id;
    if not found then
        insert into on_hand (lot_id, location_id, quantity, updated_at)
        values (new.lot_id, new.location_id, new.quantity, now())
        on conflict (lot_id, location_id)
        do update set quantity = on_hand.quantity + excluded.quantity, updated_at = now();
    end if;
    return null;
end $$;
create trigger stock_movements_apply after insert on stock_movements
    for each row execute function apply_movement();

-- Shipment lines and receipt lines point at the movement that moved the stock.
create table receipt_lines (
    id          uuid primary key default gen_random_uuid(),
    receipt_id  uuid not null references receipts,
    line_no     integer not null check (line_no > 0),
    lot_id      uuid not null references lots,
    quantity    numeric(20, 6) not null check (quantity > 0),
    location_id uuid not null references locations,
    movement_id bigint not null references stock_movements,
    constraint receipt_lines_line_key unique (receipt_id, line_no)
);
create index receipt_lines_lot_idx on receipt_lines (lot_id);

create table shipment_lines (
    id          uuid primary key default gen_random_uuid(),
    shipment_id uuid not null references shipments,
    line_no     integer not null check (line_no > 0),
    lot_id      uuid not null references lots,
    quantity    numeric(20, 6) not null check (quantity > 0),
    location_id uuid not null references locations,
    movement_id bigint not null references stock_movements,
    constraint shipment_lines_line_key unique (shipment_id, line_no)
);
create index shipment_lines_lot_idx on shipment_lines (lot_id);

create table return_lines (
    id          uuid primary key default gen_random_uuid(),
    return_id   uuid not null references returns,
    line_no     integer not null check (line_no > 0),
    lot_id      uuid not null references lots,
    quantity    numeric(20, 6) not null check (quantity > 0),
    location_id uuid not null references locations,
    movement_id bigint not null references stock_movements,
    constraint return_lines_line_key unique (return_id, line_no)
);
create index return_lines_lot_idx on return_lines (lot_id);

-- ---------------------------------------------------------------------------------------------
-- Genealogy: one row per (input, output) pair a posting creates.
-- ---------------------------------------------------------------------------------------------

create table genealogy_links (
    id                 bigint generated always as identity primary key,
    kind               text not null check (kind in ('run', 'split', 'repack')),
    run_id             uuid references production_runs,
    from_lot_id        uuid not null references lots,
    to_lot_id          uuid not null references lots,
    -- When material of from_lot can first be in to_lot: the later of the two postings.
    occurred_at        timestamptz not null,
    input_movement_id  bigint not null references stock_movements,
    output_movement_id bigint not null references stock_movements,
    -- Set once when either posting is reversed; traces skip reversed links.
    reversed_at        timestamptz,
    reversal_movement_id bigint references stock_movements,
    constraint genealogy_links_run_shape check ((kind = 'run') = (run_id is not null)),
    constraint genealogy_links_reversal_shape check ((reversed_at is null) = (reversal_movement_id is null)),
    constraint genealogy_links_pair_key unique (input_movement_id, output_movement_id)
);
create index genealogy_links_from_idx on genealogy_links (from_lot_id, occurred_at) include (to_lot_id, run_id) where reversed_at is null;
create index genealogy_links_to_idx on genealogy_links (to_lot_id, occurred_at) include (from_lot_id, run_id) where reversed_at is null;
create index genealogy_links_run_idx on genealogy_links (run_id) where run_id is not null;

-- A link is never edited except to mark it reversed, once.
create function genealogy_links_guard() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        raise exception 'genealogy links are never deleted; reverse the posting instead'
            using errcode = 'insufficient_privilege';
    end if;
    if old.reversed_at is not null
       or (new.id, new.kind, new.run_id, new.from_lot_id, new.to_lot_id, new.occurred_at, new.input_movement_id, new.output_movement_id)
          is distinct from
          (old.id, old.kind, old.run_id, old.from_lot_id, old.to_lot_id, old.occurred_at, old.input_movement_id, old.output_movement_id) then
        raise exception 'a genealogy link may only be marked reversed, once'
            using errcode = 'insufficient_privilege';
    end if;
    return new;
end $$;
create trigger genealogy_links_guard before update or delete on genealogy_links
    for each row execute function genealogy_links_guard();

-- ---------------------------------------------------------------------------------------------
-- Roles and permissions (the application checks permissions, never role names)
-- ---------------------------------------------------------------------------------------------

insert into permissions (code, description) values
    ('lots.read', 'See lots, stock, traces and documents'),
    ('stock.receive', 'Receive goods from suppliers'),
    ('stock.produce', 'Open production runs and post inputs and outputs'),
    ('stock.ship', 'Ship to customers and take returns'),
    ('stock.move', 'Transfer, adjust and scrap stock'),
    ('qa.decide', 'Release, reject, hold and lift holds on lots'),
    ('qa.record', 'Record inspections, tests and certificates'),
    ('recalls.manage', 'Open, run and close recalls'),
    ('master.edit', 'Edit sites, locations, materials and parties'),
    ('rules.edit', 'Edit lot-number rules'),
    ('users.manage', 'Manage users, roles and tokens'),
    ('audit.read', 'Read the audit trail');

insert into roles (code, name, description) values
    ('operator', 'Operator', 'Plant-floor staff: receive, produce, ship, move stock, read lots and traces'),
    ('qa', 'Quality assurance', 'Everything an operator does, plus QA decisions, QA records and recalls'),
    ('admin', 'Administrator', 'Users, lot-number rules and master data; not QA decisions unless also QA');

insert into role_permissions (role_code, permission_code) values
    ('operator', 'lots.read'), ('operator', 'stock.receive'), ('operator', 'stock.produce'),
    ('operator', 'stock.ship'), ('operator', 'stock.move'),
    ('qa', 'lots.read'), ('qa', 'stock.receive'), ('qa', 'stock.produce'), ('qa', 'stock.ship'),
    ('qa', 'stock.move'), ('qa', 'qa.decide'), ('qa', 'qa.record'), ('qa', 'recalls.manage'),
    ('qa', 'audit.read'),
    ('admin', 'lots.read'), ('admin', 'master.edit'), ('admin', 'rules.edit'),
    ('admin', 'users.manage'), ('admin', 'audit.read');
