-- The schema the migrations make (pg_dump --schema-only, normalised): read it here, change it
-- only through a new migration. tests/it/schema.rs keeps this file true.

CREATE FUNCTION public.apply_movements() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.check_time_zone() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    perform now() at time zone new.time_zone;
    return new;
exception when others then
    raise exception 'unknown time zone "%"', new.time_zone using errcode = 'check_violation',
        constraint = 'sites_time_zone_check';
end $$;

CREATE FUNCTION public.confirm_foreign_key(tbl regclass, con name) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET lock_timeout TO '1s'
    AS $$
begin
    if not exists (
        select 1 from pg_constraint
         where conrelid = tbl and conname = con and contype = 'f' and not convalidated
    ) then
        raise exception 'no unconfirmed foreign key % on %', con, tbl using errcode = '42704';
    end if;
    execute format('alter table %s validate constraint %I', tbl, con);
end
$$;

CREATE FUNCTION public.epcis_events_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.genealogy_gate() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    perform pg_advisory_xact_lock_shared(7201);
    return null;
end $$;

CREATE FUNCTION public.genealogy_links_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.gs1_check_digit_ok(code text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT
    AS $_$
    select code ~ '^[0-9]+$' and (
        select (10 - sum(substr(code, length(code) - i, 1)::int * case when i % 2 = 1 then 3 else 1 end) % 10) % 10
        from generate_series(1, length(code) - 1) as i
    ) = substr(code, length(code), 1)::int
$_$;

CREATE FUNCTION public.gs1_lot_code_ok(code text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    select char_length(code) between 1 and 20 and code !~ '[^!"%&''()*+,./0-9:;<=>?A-Z_a-z-]'
$$;

CREATE FUNCTION public.lot_key(code text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    select regexp_replace(upper(code), '[^A-Z0-9]', '', 'g')
$$;

CREATE FUNCTION public.recall_open_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    if exists (select 1 from recalls where id = new.recall_id and status = 'closed') then
        raise exception 'This recall is closed: it is read-only.'
            using errcode = 'check_violation', constraint = 'recall_closed';
    end if;
    return new;
end $$;

CREATE FUNCTION public.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    raise exception 'table % is append-only: % is not allowed', tg_table_name, tg_op
        using errcode = 'insufficient_privilege';
end $$;

CREATE FUNCTION public.site_today(site uuid) RETURNS date
    LANGUAGE sql STABLE
    AS $$ select (now() at time zone s.time_zone)::date from sites s where s.id = site $$;

CREATE FUNCTION public.stock_count_lines_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    if exists (select 1 from stock_counts where id = coalesce(new.count_id, old.count_id) and status = 'posted')
       and not (tg_op = 'UPDATE' and new.movement_id is distinct from old.movement_id and old.movement_id is null) then
        raise exception 'This count is posted: it is read-only.' using errcode = 'check_violation', constraint = 'count_posted';
    end if;
    return coalesce(new, old);
end $$;

CREATE FUNCTION public.touch_all_lots() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    insert into lot_touches (lot_id) values (null);
    return null;
end
$$;

CREATE FUNCTION public.touch_lots_audited() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
begin
    insert into lot_touches (lot_id)
    select distinct entity_id::uuid from new_rows
     where entity_type = 'lot' and entity_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    return null;
end
$_$;

CREATE FUNCTION public.touch_lots_by_id() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    insert into lot_touches (lot_id) select distinct id from new_rows;
    return null;
end
$$;

CREATE FUNCTION public.touch_lots_linked() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    insert into lot_touches (lot_id) select from_lot_id from new_rows union select to_lot_id from new_rows;
    return null;
end
$$;

CREATE FUNCTION public.touch_lots_new() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    insert into lot_touches (lot_id) select distinct lot_id from new_rows;
    return null;
end
$$;

CREATE FUNCTION public.touch_lots_old() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    insert into lot_touches (lot_id) select distinct lot_id from old_rows;
    return null;
end
$$;

CREATE FUNCTION public.touch_row() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
    new.updated_at := now();
    new.version := old.version + 1;
    return new;
end $$;

CREATE FUNCTION public.trace_flows(ids uuid[]) RETURNS TABLE(id bigint, lot_id uuid, kind text, quantity numeric, run_id uuid, posting_id uuid, occurred_at timestamp with time zone, outside boolean)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    -- The second part repeats the reached lots' own consumptions; they come marked `outside`
    -- and the caller drops those of reached lots.
    return query
    select o.id, o.lot_id, o.kind, o.quantity, o.run_id, o.posting_id, o.occurred_at, false from trace_flows_own(ids) o
    union all
    select c.id, c.lot_id, c.kind, c.quantity, c.run_id, c.posting_id, c.occurred_at, true
      from trace_flows_consumed(array(select distinct m.run_id from stock_movements m
                                       where m.lot_id = any(ids) and m.run_id is not null)) c;
end
$$;

CREATE FUNCTION public.trace_flows_consumed(runs uuid[]) RETURNS TABLE(id bigint, lot_id uuid, kind text, quantity numeric, run_id uuid, posting_id uuid, occurred_at timestamp with time zone)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    return query
    select mv.id, mv.lot_id, mv.kind, mv.quantity, mv.run_id, mv.posting_id, mv.occurred_at
      from stock_movements mv
     where mv.run_id = any(runs)
       and mv.kind = 'consume' and mv.reverses_id is null
       and not exists (select 1 from stock_movements x where x.reverses_id = mv.id);
end
$$;

CREATE FUNCTION public.trace_flows_own(ids uuid[]) RETURNS TABLE(id bigint, lot_id uuid, kind text, quantity numeric, run_id uuid, posting_id uuid, occurred_at timestamp with time zone)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    return query
    select mv.id, mv.lot_id, mv.kind, mv.quantity, mv.run_id, mv.posting_id, mv.occurred_at
      from stock_movements mv
     where mv.lot_id = any(ids)
       and mv.kind not in ('reversal', 'transfer') and mv.reverses_id is null
       and not exists (select 1 from stock_movements x where x.reverses_id = mv.id);
end
$$;

CREATE FUNCTION public.trace_kg_per_unit(ids uuid[]) RETURNS TABLE(lot_id uuid, kg numeric)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    return query
    select l.id, case when u.dimension = 'mass' then u.to_base else m.mass_per_unit_kg end
      from lots l join materials m on m.id = l.material_id join units u on u.code = m.uom
     where l.id = any(ids);
end
$$;

CREATE FUNCTION public.trace_links_down(start uuid) RETURNS TABLE(from_lot_id uuid, to_lot_id uuid, occurred_at timestamp with time zone, run_id uuid, kind text)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    return query
    with recursive reach(lot) as (
        select start
        union
        select g.to_lot_id from reach r join genealogy_links g on g.from_lot_id = r.lot where g.reversed_at is null
    )
    select g.from_lot_id, g.to_lot_id, g.occurred_at, g.run_id, case when g.run_id is null then g.kind end
      from reach r join genealogy_links g on g.from_lot_id = r.lot
     where g.reversed_at is null;
end
$$;

CREATE FUNCTION public.trace_links_up(start uuid) RETURNS TABLE(from_lot_id uuid, to_lot_id uuid, occurred_at timestamp with time zone, run_id uuid, kind text)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    return query
    with recursive reach(lot) as (
        select start
        union
        select g.from_lot_id from reach r join genealogy_links g on g.to_lot_id = r.lot where g.reversed_at is null
    )
    select g.from_lot_id, g.to_lot_id, g.occurred_at, g.run_id, case when g.run_id is null then g.kind end
      from reach r join genealogy_links g on g.to_lot_id = r.lot
     where g.reversed_at is null;
end
$$;

CREATE FUNCTION public.trace_lot_rows(ids uuid[]) RETURNS TABLE(id uuid, code text, material_id uuid, supplier_id uuid, supplier_lot text, disposition text, expires_on date, site_id uuid)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    return query
    select l.id, l.code, l.material_id, l.supplier_id, l.supplier_lot, l.disposition, l.expires_on, l.site_id
      from unnest(ids) as i(id)
      join lots l on l.id = i.id;
end
$$;

CREATE FUNCTION public.trace_open_holds(ids uuid[]) RETURNS TABLE(lot_id uuid, open_holds bigint, recalled boolean)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    return query
    select h.lot_id, count(*), bool_or(h.source = 'recall')
      from lot_holds h
     where h.lot_id = any(ids) and h.closed_at is null
     group by h.lot_id;
end
$$;

CREATE FUNCTION public.trace_shipments(ids uuid[]) RETURNS TABLE(lot_id uuid, number text, customer_id uuid, quantity numeric, shipped_at timestamp with time zone, reversed boolean)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    return query
    select sl.lot_id, h.number, h.customer_id, sl.quantity, h.shipped_at,
           exists (select 1 from stock_movements x where x.reverses_id = sl.movement_id)
      from shipment_lines sl
      join shipments h on h.id = sl.shipment_id
     where sl.lot_id = any(ids);
end
$$;

CREATE FUNCTION public.trace_stock(ids uuid[]) RETURNS TABLE(lot_id uuid, location text, quantity numeric)
    LANGUAGE plpgsql STABLE
    SET enable_seqscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
#variable_conflict use_column
begin
    return query
    select o.lot_id, c.code, o.quantity
      from on_hand o join locations c on c.id = o.location_id
     where o.lot_id = any(ids) and o.quantity <> 0;
end
$$;

CREATE TABLE public._sqlx_migrations (
    version bigint NOT NULL,
    description text NOT NULL,
    installed_on timestamp with time zone DEFAULT now() NOT NULL,
    success boolean NOT NULL,
    checksum bytea NOT NULL,
    execution_time bigint NOT NULL
);

CREATE TABLE public.api_tokens (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    name text NOT NULL,
    token_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    scope text DEFAULT 'write'::text NOT NULL,
    CONSTRAINT api_tokens_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 100))),
    CONSTRAINT api_tokens_scope_check CHECK ((scope = ANY (ARRAY['read'::text, 'write'::text])))
);

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    actor_id uuid,
    actor_name text NOT NULL,
    action text NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    reason text,
    before jsonb,
    after jsonb,
    prev_hash bytea,
    hash bytea NOT NULL,
    keyed boolean DEFAULT false NOT NULL
);

ALTER TABLE public.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE SEQUENCE public.count_number_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.epcis_events (
    seq bigint NOT NULL,
    event_key text NOT NULL,
    event_id text NOT NULL,
    event_time timestamp with time zone NOT NULL,
    movements bigint[] NOT NULL,
    lots uuid[] NOT NULL,
    run_id uuid,
    event jsonb NOT NULL,
    retraction boolean DEFAULT false NOT NULL,
    retracted_at timestamp with time zone,
    recorded_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    epc_classes text[] DEFAULT '{}'::text[] NOT NULL,
    CONSTRAINT epcis_events_retraction_shape CHECK ((NOT (retraction AND (retracted_at IS NOT NULL))))
);

ALTER TABLE public.epcis_events ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.epcis_events_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.epcis_publication (
    id boolean DEFAULT true NOT NULL,
    last_id bigint DEFAULT 0 NOT NULL,
    CONSTRAINT epcis_publication_id_check CHECK (id)
);

CREATE TABLE public.epcis_publication_gaps (
    id bigint NOT NULL,
    seen_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.epcis_queries (
    name text NOT NULL,
    query jsonb NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT epcis_queries_name_check CHECK ((name ~ '^[A-Za-z0-9_.-]{1,64}$'::text))
);

CREATE TABLE public.epcis_subscriptions (
    id uuid NOT NULL,
    query_name text NOT NULL,
    dest text NOT NULL,
    signature_token text,
    delivered_seq bigint DEFAULT 0 NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_notified_at timestamp with time zone,
    last_error text,
    failures integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone,
    CONSTRAINT epcis_subscriptions_dest_check CHECK (((length(dest) >= 8) AND (length(dest) <= 2000))),
    CONSTRAINT epcis_subscriptions_signature_token_check CHECK (((length(signature_token) >= 1) AND (length(signature_token) <= 500)))
);

CREATE TABLE public.genealogy_links (
    id bigint NOT NULL,
    kind text NOT NULL,
    run_id uuid,
    from_lot_id uuid NOT NULL,
    to_lot_id uuid NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    input_movement_id bigint NOT NULL,
    output_movement_id bigint NOT NULL,
    reversed_at timestamp with time zone,
    reversal_movement_id bigint,
    CONSTRAINT genealogy_links_kind_check CHECK ((kind = ANY (ARRAY['run'::text, 'split'::text, 'repack'::text]))),
    CONSTRAINT genealogy_links_reversal_shape CHECK (((reversed_at IS NULL) = (reversal_movement_id IS NULL))),
    CONSTRAINT genealogy_links_run_shape CHECK (((kind = 'run'::text) = (run_id IS NOT NULL)))
);

ALTER TABLE public.genealogy_links ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.genealogy_links_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.idempotency_keys (
    key uuid NOT NULL,
    operation text NOT NULL,
    result text NOT NULL,
    user_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    request_hash bytea
);

CREATE TABLE public.locations (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    site_id uuid NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    CONSTRAINT locations_code_check CHECK ((code ~ '^[A-Z0-9][A-Z0-9._/-]{0,29}$'::text)),
    CONSTRAINT locations_kind_check CHECK ((kind = ANY (ARRAY['storage'::text, 'receiving'::text, 'quarantine'::text, 'production'::text, 'shipping'::text]))),
    CONSTRAINT locations_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200)))
);

CREATE TABLE public.login_throttle (
    key text NOT NULL,
    failures integer DEFAULT 0 NOT NULL,
    window_start timestamp with time zone DEFAULT now() NOT NULL,
    locked_until timestamp with time zone,
    CONSTRAINT login_throttle_failures_check CHECK ((failures >= 0))
);

COMMENT ON COLUMN public.login_throttle.locked_until IS 'the next attempt for this key is not checked before this time';

CREATE TABLE public.lookup_counts (
    lot_id uuid NOT NULL,
    day date NOT NULL,
    lookups integer DEFAULT 0 NOT NULL,
    CONSTRAINT lookup_counts_lookups_check CHECK ((lookups >= 0))
);

CREATE TABLE public.lookup_throttle (
    address text NOT NULL,
    window_start timestamp with time zone DEFAULT now() NOT NULL,
    lookups integer DEFAULT 0 NOT NULL,
    CONSTRAINT lookup_throttle_lookups_check CHECK ((lookups >= 0))
);

CREATE TABLE public.lot_code_gaps (
    id bigint NOT NULL,
    rule_id uuid NOT NULL,
    scope_key text NOT NULL,
    period_key text NOT NULL,
    value bigint NOT NULL,
    code text,
    reason text NOT NULL,
    logged_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.lot_code_gaps ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.lot_code_gaps_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.lot_dispositions (
    id bigint NOT NULL,
    lot_id uuid NOT NULL,
    from_status text,
    to_status text NOT NULL,
    reason text,
    decided_by uuid,
    decided_at timestamp with time zone DEFAULT now() NOT NULL,
    signature_id uuid,
    CONSTRAINT lot_dispositions_from_status_check CHECK ((from_status = ANY (ARRAY['quarantine'::text, 'released'::text, 'rejected'::text]))),
    CONSTRAINT lot_dispositions_to_status_check CHECK ((to_status = ANY (ARRAY['quarantine'::text, 'released'::text, 'rejected'::text])))
);

ALTER TABLE public.lot_dispositions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.lot_dispositions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.lot_holds (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    lot_id uuid NOT NULL,
    source text NOT NULL,
    recall_id uuid,
    reason text NOT NULL,
    opened_by uuid,
    opened_at timestamp with time zone DEFAULT now() NOT NULL,
    closed_by uuid,
    closed_at timestamp with time zone,
    close_reason text,
    close_signature uuid,
    CONSTRAINT lot_holds_close_shape CHECK (((closed_at IS NULL) = (close_reason IS NULL))),
    CONSTRAINT lot_holds_reason_check CHECK ((length(btrim(reason)) > 0)),
    CONSTRAINT lot_holds_recall_shape CHECK (((source = 'recall'::text) = (recall_id IS NOT NULL))),
    CONSTRAINT lot_holds_source_check CHECK ((source = ANY (ARRAY['manual'::text, 'recall'::text, 'supplier_notice'::text, 'qa'::text])))
);

CREATE TABLE public.lot_rules (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    pattern text NOT NULL,
    scope text NOT NULL,
    scope_kind text,
    scope_material uuid,
    reset_period text DEFAULT 'never'::text NOT NULL,
    start_number bigint DEFAULT 1 NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    signature_id uuid,
    CONSTRAINT lot_rules_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 100))),
    CONSTRAINT lot_rules_pattern_check CHECK (((length(pattern) >= 1) AND (length(pattern) <= 200))),
    CONSTRAINT lot_rules_reset_period_check CHECK ((reset_period = ANY (ARRAY['never'::text, 'yearly'::text, 'monthly'::text, 'daily'::text]))),
    CONSTRAINT lot_rules_scope_check CHECK ((scope = ANY (ARRAY['default'::text, 'kind'::text, 'material'::text]))),
    CONSTRAINT lot_rules_scope_kind_check CHECK ((scope_kind = ANY (ARRAY['raw'::text, 'packaging'::text, 'intermediate'::text, 'finished'::text]))),
    CONSTRAINT lot_rules_scope_shape CHECK ((((scope = 'default'::text) AND (scope_kind IS NULL) AND (scope_material IS NULL)) OR ((scope = 'kind'::text) AND (scope_kind IS NOT NULL) AND (scope_material IS NULL)) OR ((scope = 'material'::text) AND (scope_kind IS NULL) AND (scope_material IS NOT NULL)))),
    CONSTRAINT lot_rules_start_number_check CHECK ((start_number >= 0))
);

CREATE TABLE public.lot_sequences (
    rule_id uuid NOT NULL,
    scope_key text NOT NULL,
    period_key text NOT NULL,
    next_value bigint NOT NULL,
    CONSTRAINT lot_sequences_next_value_check CHECK ((next_value >= 0))
);

CREATE UNLOGGED TABLE public.lot_touches (
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    lot_id uuid
);

CREATE TABLE public.lots (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    material_id uuid NOT NULL,
    code text NOT NULL,
    origin text NOT NULL,
    site_id uuid NOT NULL,
    made_on date NOT NULL,
    expires_on date,
    supplier_id uuid,
    supplier_lot text,
    receipt_id uuid,
    run_id uuid,
    tlc text NOT NULL,
    tlc_source text NOT NULL,
    country_of_origin text,
    disposition text DEFAULT 'quarantine'::text NOT NULL,
    notes text DEFAULT ''::text NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    code_rule_id uuid,
    code_scope text,
    code_period text,
    code_seq bigint,
    CONSTRAINT lots_code_check CHECK (public.gs1_lot_code_ok(code)),
    CONSTRAINT lots_code_origin_shape CHECK ((((code_rule_id IS NULL) = (code_seq IS NULL)) AND ((code_rule_id IS NULL) = (code_scope IS NULL)) AND ((code_rule_id IS NULL) = (code_period IS NULL)))),
    CONSTRAINT lots_country_of_origin_check CHECK ((country_of_origin ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT lots_disposition_check CHECK ((disposition = ANY (ARRAY['quarantine'::text, 'released'::text, 'rejected'::text]))),
    CONSTRAINT lots_expiry_after_made CHECK (((expires_on IS NULL) OR (expires_on >= made_on))),
    CONSTRAINT lots_origin_check CHECK ((origin = ANY (ARRAY['received'::text, 'produced'::text]))),
    CONSTRAINT lots_produced_shape CHECK (((origin <> 'produced'::text) OR ((supplier_id IS NULL) AND (receipt_id IS NULL)))),
    CONSTRAINT lots_received_shape CHECK (((origin <> 'received'::text) OR (run_id IS NULL)))
);

CREATE TABLE public.material_gtins (
    gtin text NOT NULL,
    material_id uuid NOT NULL,
    pack_level text DEFAULT 'each'::text NOT NULL,
    units_per_pack numeric(20,6) DEFAULT 1 NOT NULL,
    company_prefix_length smallint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT material_gtins_company_prefix_length_check CHECK (((company_prefix_length >= 4) AND (company_prefix_length <= 12))),
    CONSTRAINT material_gtins_gtin_check CHECK (((gtin ~ '^[0-9]{14}$'::text) AND public.gs1_check_digit_ok(gtin))),
    CONSTRAINT material_gtins_pack_level_check CHECK ((pack_level = ANY (ARRAY['each'::text, 'inner'::text, 'case'::text, 'pallet'::text]))),
    CONSTRAINT material_gtins_units_per_pack_check CHECK ((units_per_pack > (0)::numeric))
);

CREATE TABLE public.materials (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    uom text NOT NULL,
    mass_per_unit_kg numeric(20,6),
    shelf_life_days integer,
    expiry_policy text DEFAULT 'shelf_life'::text NOT NULL,
    qa_required boolean DEFAULT true NOT NULL,
    ftl boolean DEFAULT false NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    public_lookup boolean DEFAULT false NOT NULL,
    public_dates boolean DEFAULT true NOT NULL,
    public_origin boolean DEFAULT true NOT NULL,
    recall_notice_days integer DEFAULT 90 NOT NULL,
    count_tolerance_percent numeric(5,2) DEFAULT 0 NOT NULL,
    date_kind text DEFAULT 'use_by'::text NOT NULL,
    CONSTRAINT materials_code_check CHECK ((code ~ '^[A-Z0-9][A-Z0-9._-]{0,19}$'::text)),
    CONSTRAINT materials_count_tolerance_percent_check CHECK (((count_tolerance_percent >= (0)::numeric) AND (count_tolerance_percent < (100)::numeric))),
    CONSTRAINT materials_date_kind_check CHECK ((date_kind = ANY (ARRAY['use_by'::text, 'best_before'::text]))),
    CONSTRAINT materials_expiry_policy_check CHECK ((expiry_policy = ANY (ARRAY['shelf_life'::text, 'earliest_input'::text, 'none'::text]))),
    CONSTRAINT materials_kind_check CHECK ((kind = ANY (ARRAY['raw'::text, 'packaging'::text, 'intermediate'::text, 'finished'::text]))),
    CONSTRAINT materials_mass_per_unit_kg_check CHECK ((mass_per_unit_kg > (0)::numeric)),
    CONSTRAINT materials_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200))),
    CONSTRAINT materials_recall_notice_days_check CHECK (((recall_notice_days >= 0) AND (recall_notice_days <= 3650))),
    CONSTRAINT materials_shelf_life_days_check CHECK (((shelf_life_days >= 1) AND (shelf_life_days <= 36500)))
);

CREATE TABLE public.on_hand (
    lot_id uuid NOT NULL,
    location_id uuid NOT NULL,
    quantity numeric(20,6) NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT on_hand_not_negative CHECK ((quantity >= (0)::numeric))
);

CREATE TABLE public.parties (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    is_supplier boolean DEFAULT false NOT NULL,
    is_customer boolean DEFAULT false NOT NULL,
    address text DEFAULT ''::text NOT NULL,
    country text,
    gln text,
    phone text DEFAULT ''::text NOT NULL,
    email text DEFAULT ''::text NOT NULL,
    notes text DEFAULT ''::text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    CONSTRAINT parties_code_check CHECK ((code ~ '^[A-Z0-9][A-Z0-9._-]{0,19}$'::text)),
    CONSTRAINT parties_country_check CHECK ((country ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT parties_gln_check CHECK (((gln ~ '^[0-9]{13}$'::text) AND public.gs1_check_digit_ok(gln))),
    CONSTRAINT parties_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200))),
    CONSTRAINT parties_role_check CHECK ((is_supplier OR is_customer))
);

CREATE TABLE public.party_contacts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    party_id uuid NOT NULL,
    name text NOT NULL,
    role text DEFAULT ''::text NOT NULL,
    phone text DEFAULT ''::text NOT NULL,
    email text DEFAULT ''::text NOT NULL,
    recall_contact boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    CONSTRAINT party_contacts_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200)))
);

CREATE TABLE public.permissions (
    code text NOT NULL,
    description text NOT NULL
);

CREATE TABLE public.production_lines (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    site_id uuid NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    CONSTRAINT production_lines_code_check CHECK ((code ~ '^[A-Z0-9][A-Z0-9-]{0,3}$'::text))
);

CREATE TABLE public.production_runs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    number text NOT NULL,
    site_id uuid NOT NULL,
    line_id uuid,
    output_material_id uuid NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    planned_quantity numeric(20,6),
    order_ref text DEFAULT ''::text NOT NULL,
    notes text DEFAULT ''::text NOT NULL,
    opened_at timestamp with time zone NOT NULL,
    opened_by uuid,
    closed_at timestamp with time zone,
    closed_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    CONSTRAINT production_runs_closed_shape CHECK (((status = 'closed'::text) = (closed_at IS NOT NULL))),
    CONSTRAINT production_runs_planned_quantity_check CHECK ((planned_quantity > (0)::numeric)),
    CONSTRAINT production_runs_status_check CHECK ((status = ANY (ARRAY['open'::text, 'closed'::text])))
);

CREATE TABLE public.qa_records (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    lot_id uuid NOT NULL,
    kind text NOT NULL,
    name text NOT NULL,
    result text DEFAULT ''::text NOT NULL,
    specification text DEFAULT ''::text NOT NULL,
    reference text DEFAULT ''::text NOT NULL,
    outcome text NOT NULL,
    notes text DEFAULT ''::text NOT NULL,
    performed_at timestamp with time zone NOT NULL,
    recorded_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT qa_records_kind_check CHECK ((kind = ANY (ARRAY['inspection'::text, 'test'::text, 'certificate'::text]))),
    CONSTRAINT qa_records_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200))),
    CONSTRAINT qa_records_outcome_check CHECK ((outcome = ANY (ARRAY['pass'::text, 'fail'::text])))
);

CREATE TABLE public.recall_accounting (
    id bigint NOT NULL,
    recall_id uuid NOT NULL,
    party_id uuid NOT NULL,
    lot_id uuid NOT NULL,
    quantity_destroyed numeric(20,6) NOT NULL,
    quantity_held numeric(20,6) NOT NULL,
    reported_at timestamp with time zone NOT NULL,
    notes text DEFAULT ''::text NOT NULL,
    recorded_by uuid,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT recall_accounting_quantity_destroyed_check CHECK ((quantity_destroyed >= (0)::numeric)),
    CONSTRAINT recall_accounting_quantity_held_check CHECK ((quantity_held >= (0)::numeric))
);

ALTER TABLE public.recall_accounting ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.recall_accounting_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.recall_decisions (
    id bigint NOT NULL,
    recall_id uuid NOT NULL,
    lot_id uuid NOT NULL,
    decision text NOT NULL,
    reason text NOT NULL,
    signature_id uuid NOT NULL,
    decided_by uuid NOT NULL,
    decided_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT recall_decisions_decision_check CHECK ((decision = ANY (ARRAY['release'::text, 'rework'::text, 'destroy'::text, 'return_to_supplier'::text]))),
    CONSTRAINT recall_decisions_reason_check CHECK ((length(btrim(reason)) > 0))
);

ALTER TABLE public.recall_decisions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.recall_decisions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.recall_lots (
    recall_id uuid NOT NULL,
    lot_id uuid NOT NULL,
    depth integer NOT NULL,
    share numeric(20,6),
    concentration numeric(12,9),
    excluded boolean DEFAULT false NOT NULL,
    exclude_reason text,
    CONSTRAINT recall_lots_concentration_check CHECK (((concentration >= (0)::numeric) AND (concentration <= (1)::numeric))),
    CONSTRAINT recall_lots_depth_check CHECK ((depth >= 0)),
    CONSTRAINT recall_lots_exclusion_reason CHECK (((NOT excluded) OR (exclude_reason IS NOT NULL)))
);

CREATE TABLE public.recall_notices (
    id bigint NOT NULL,
    recall_id uuid NOT NULL,
    party_id uuid NOT NULL,
    kind text NOT NULL,
    method text NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    contact text DEFAULT ''::text NOT NULL,
    notes text DEFAULT ''::text NOT NULL,
    recorded_by uuid,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT recall_notices_kind_check CHECK ((kind = ANY (ARRAY['notice'::text, 'acknowledgement'::text]))),
    CONSTRAINT recall_notices_method_check CHECK ((method = ANY (ARRAY['email'::text, 'phone'::text, 'letter'::text, 'fax'::text, 'in_person'::text, 'other'::text])))
);

ALTER TABLE public.recall_notices ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.recall_notices_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE SEQUENCE public.recall_number_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.recall_scopes (
    id bigint NOT NULL,
    recall_id uuid NOT NULL,
    mode text NOT NULL,
    reason text NOT NULL,
    document text NOT NULL,
    hash bytea NOT NULL,
    as_of timestamp with time zone NOT NULL,
    computed_ms integer NOT NULL,
    created_by uuid,
    signature_id uuid,
    CONSTRAINT recall_scopes_computed_ms_check CHECK ((computed_ms >= 0)),
    CONSTRAINT recall_scopes_mode_check CHECK ((mode = ANY (ARRAY['precise'::text, 'lot_level'::text]))),
    CONSTRAINT recall_scopes_reason_check CHECK ((length(btrim(reason)) > 0))
);

ALTER TABLE public.recall_scopes ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.recall_scopes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.recall_suspects (
    recall_id uuid NOT NULL,
    lot_id uuid NOT NULL
);

CREATE TABLE public.recalls (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    number text NOT NULL,
    mock boolean DEFAULT false NOT NULL,
    class text,
    status text DEFAULT 'open'::text NOT NULL,
    reason text NOT NULL,
    mode text DEFAULT 'precise'::text NOT NULL,
    supplier_id uuid,
    supplier_lot text,
    public_instructions text DEFAULT ''::text NOT NULL,
    summary text,
    opened_at timestamp with time zone DEFAULT now() NOT NULL,
    opened_by uuid,
    closed_at timestamp with time zone,
    closed_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    opened_signature uuid,
    closed_signature uuid,
    check_level text DEFAULT 'A'::text NOT NULL,
    threshold numeric(12,9),
    threshold_reason text,
    threshold_signature uuid,
    report_completed_at timestamp with time zone,
    report_completed_by uuid,
    public_until date DEFAULT (CURRENT_DATE + 730) NOT NULL,
    notice_withdrawn_at timestamp with time zone,
    notice_withdrawn_by uuid,
    notice_withdrawn_reason text,
    notice_withdrawn_signature uuid,
    check_percent numeric(5,2),
    close_override text,
    CONSTRAINT recalls_check_level_check CHECK ((check_level = ANY (ARRAY['A'::text, 'B'::text, 'C'::text, 'D'::text, 'E'::text]))),
    CONSTRAINT recalls_check_percent_check CHECK (((check_percent > (10)::numeric) AND (check_percent < (100)::numeric))),
    CONSTRAINT recalls_check_percent_shape CHECK (((check_level = 'B'::text) = (check_percent IS NOT NULL))),
    CONSTRAINT recalls_class_check CHECK ((class = ANY (ARRAY['I'::text, 'II'::text, 'III'::text]))),
    CONSTRAINT recalls_class_shape CHECK ((mock OR (class IS NOT NULL))),
    CONSTRAINT recalls_close_override_shape CHECK (((close_override IS NULL) OR (status = 'closed'::text))),
    CONSTRAINT recalls_closed_shape CHECK (((status = 'closed'::text) = (closed_at IS NOT NULL))),
    CONSTRAINT recalls_closed_summary CHECK (((status <> 'closed'::text) OR (length(btrim(COALESCE(summary, ''::text))) > 0))),
    CONSTRAINT recalls_mode_check CHECK ((mode = ANY (ARRAY['precise'::text, 'lot_level'::text]))),
    CONSTRAINT recalls_notice_withdrawn_shape CHECK ((((notice_withdrawn_at IS NULL) = (notice_withdrawn_signature IS NULL)) AND ((notice_withdrawn_at IS NULL) = (notice_withdrawn_reason IS NULL)))),
    CONSTRAINT recalls_reason_check CHECK ((length(btrim(reason)) > 0)),
    CONSTRAINT recalls_status_check CHECK ((status = ANY (ARRAY['open'::text, 'closed'::text]))),
    CONSTRAINT recalls_supplier_shape CHECK (((supplier_id IS NULL) = (supplier_lot IS NULL))),
    CONSTRAINT recalls_threshold_check CHECK (((threshold > (0)::numeric) AND (threshold < (1)::numeric))),
    CONSTRAINT recalls_threshold_class CHECK (((threshold IS NULL) OR (class IS DISTINCT FROM 'I'::text))),
    CONSTRAINT recalls_threshold_shape CHECK ((((threshold IS NULL) = (threshold_reason IS NULL)) AND ((threshold IS NULL) = (threshold_signature IS NULL))))
);

CREATE TABLE public.receipt_lines (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    receipt_id uuid NOT NULL,
    line_no integer NOT NULL,
    lot_id uuid NOT NULL,
    quantity numeric(20,6) NOT NULL,
    location_id uuid NOT NULL,
    movement_id bigint NOT NULL,
    CONSTRAINT receipt_lines_line_no_check CHECK ((line_no > 0)),
    CONSTRAINT receipt_lines_quantity_check CHECK ((quantity > (0)::numeric))
);

CREATE SEQUENCE public.receipt_number_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.receipts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    number text NOT NULL,
    site_id uuid NOT NULL,
    supplier_id uuid NOT NULL,
    received_at timestamp with time zone NOT NULL,
    order_ref text DEFAULT ''::text NOT NULL,
    asn_ref text DEFAULT ''::text NOT NULL,
    delivery_ref text DEFAULT ''::text NOT NULL,
    notes text DEFAULT ''::text NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.return_lines (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    return_id uuid NOT NULL,
    line_no integer NOT NULL,
    lot_id uuid NOT NULL,
    quantity numeric(20,6) NOT NULL,
    location_id uuid NOT NULL,
    movement_id bigint NOT NULL,
    shipment_line_id uuid,
    CONSTRAINT return_lines_line_no_check CHECK ((line_no > 0)),
    CONSTRAINT return_lines_quantity_check CHECK ((quantity > (0)::numeric))
);

CREATE SEQUENCE public.return_number_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.returns (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    number text NOT NULL,
    kind text NOT NULL,
    party_id uuid NOT NULL,
    shipment_id uuid,
    recall_id uuid,
    reason text NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT returns_kind_check CHECK ((kind = ANY (ARRAY['from_customer'::text, 'to_supplier'::text]))),
    CONSTRAINT returns_reason_check CHECK ((length(btrim(reason)) > 0))
);

CREATE TABLE public.role_permissions (
    role_code text NOT NULL,
    permission_code text NOT NULL
);

CREATE TABLE public.roles (
    code text NOT NULL,
    name text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    CONSTRAINT roles_code_check CHECK ((code ~ '^[a-z][a-z_]{1,30}$'::text))
);

CREATE SEQUENCE public.run_number_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.security_alerts (
    id bigint NOT NULL,
    raised_at timestamp with time zone DEFAULT now() NOT NULL,
    kind text NOT NULL,
    user_id uuid,
    detail text NOT NULL,
    acknowledged_at timestamp with time zone,
    acknowledged_by uuid,
    CONSTRAINT security_alerts_acknowledged_shape CHECK (((acknowledged_at IS NULL) = (acknowledged_by IS NULL))),
    CONSTRAINT security_alerts_detail_check CHECK ((length(btrim(detail)) > 0)),
    CONSTRAINT security_alerts_kind_check CHECK ((kind = 'signature_attempts'::text))
);

ALTER TABLE public.security_alerts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.security_alerts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.sessions (
    token_hash bytea NOT NULL,
    user_id uuid NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    client_addr text,
    user_agent text,
    signed_at timestamp with time zone
);

CREATE TABLE public.shipment_lines (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    shipment_id uuid NOT NULL,
    line_no integer NOT NULL,
    lot_id uuid NOT NULL,
    quantity numeric(20,6) NOT NULL,
    location_id uuid NOT NULL,
    movement_id bigint NOT NULL,
    CONSTRAINT shipment_lines_line_no_check CHECK ((line_no > 0)),
    CONSTRAINT shipment_lines_quantity_check CHECK ((quantity > (0)::numeric))
);

CREATE SEQUENCE public.shipment_number_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.shipment_pallets (
    sscc text NOT NULL,
    company_prefix text NOT NULL,
    shipment_id uuid NOT NULL,
    pallet_no integer NOT NULL,
    CONSTRAINT shipment_pallets_check CHECK (((company_prefix ~ '^[0-9]{6,12}$'::text) AND (substr(sscc, 2, length(company_prefix)) = company_prefix))),
    CONSTRAINT shipment_pallets_pallet_no_check CHECK (((pallet_no >= 1) AND (pallet_no <= 99))),
    CONSTRAINT shipment_pallets_sscc_check CHECK (((sscc ~ '^[0-9]{18}$'::text) AND public.gs1_check_digit_ok(sscc)))
);

CREATE TABLE public.shipments (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    number text NOT NULL,
    site_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    shipped_at timestamp with time zone NOT NULL,
    order_ref text DEFAULT ''::text NOT NULL,
    bol_ref text DEFAULT ''::text NOT NULL,
    asn_ref text DEFAULT ''::text NOT NULL,
    notes text DEFAULT ''::text NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.signature_failures (
    user_id uuid NOT NULL,
    failures integer DEFAULT 0 NOT NULL,
    window_start timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT signature_failures_failures_check CHECK ((failures >= 0))
);

CREATE TABLE public.signatures (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    meaning text NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    signed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT signatures_meaning_check CHECK ((length(btrim(meaning)) > 0))
);

CREATE TABLE public.sites (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    address text DEFAULT ''::text NOT NULL,
    gln text,
    time_zone text DEFAULT 'UTC'::text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    phone text DEFAULT ''::text NOT NULL,
    country text,
    company_prefix text,
    CONSTRAINT sites_code_check CHECK ((code ~ '^[A-Z0-9][A-Z0-9-]{0,7}$'::text)),
    CONSTRAINT sites_company_prefix_check CHECK ((company_prefix ~ '^[0-9]{6,12}$'::text)),
    CONSTRAINT sites_country_check CHECK ((country ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT sites_gln_check CHECK (((gln ~ '^[0-9]{13}$'::text) AND public.gs1_check_digit_ok(gln))),
    CONSTRAINT sites_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200)))
);

CREATE SEQUENCE public.sscc_serial_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.stock_count_lines (
    id bigint NOT NULL,
    count_id uuid NOT NULL,
    lot_id uuid NOT NULL,
    counted numeric(20,6),
    expected numeric(20,6),
    counted_by uuid,
    counted_at timestamp with time zone,
    movement_id bigint,
    post_reason text,
    posted_by uuid,
    posted_at timestamp with time zone,
    CONSTRAINT stock_count_lines_counted_check CHECK ((counted >= (0)::numeric)),
    CONSTRAINT stock_count_lines_expected_check CHECK ((expected >= (0)::numeric)),
    CONSTRAINT stock_count_lines_post_reason_check CHECK (((post_reason IS NULL) OR (length(btrim(post_reason)) > 0))),
    CONSTRAINT stock_count_lines_posted_shape CHECK (((posted_at IS NULL) OR (movement_id IS NOT NULL)))
);

ALTER TABLE public.stock_count_lines ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.stock_count_lines_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.stock_counts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    number text NOT NULL,
    location_id uuid NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    opened_by uuid,
    opened_at timestamp with time zone DEFAULT now() NOT NULL,
    submitted_by uuid,
    submitted_at timestamp with time zone,
    posted_by uuid,
    posted_at timestamp with time zone,
    post_reason text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    CONSTRAINT stock_counts_posted_shape CHECK (((status = 'posted'::text) = ((posted_at IS NOT NULL) AND (length(btrim(post_reason)) > 0)))),
    CONSTRAINT stock_counts_status_check CHECK ((status = ANY (ARRAY['open'::text, 'submitted'::text, 'posted'::text]))),
    CONSTRAINT stock_counts_submitted_shape CHECK (((status = 'open'::text) = (submitted_at IS NULL)))
);

CREATE TABLE public.stock_movements (
    id bigint NOT NULL,
    kind text NOT NULL,
    lot_id uuid NOT NULL,
    location_id uuid NOT NULL,
    quantity numeric(20,6) NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    actor_id uuid,
    posting_id uuid NOT NULL,
    receipt_id uuid,
    run_id uuid,
    shipment_id uuid,
    return_id uuid,
    recall_id uuid,
    reverses_id bigint,
    reason text,
    CONSTRAINT stock_movements_kind_check CHECK ((kind = ANY (ARRAY['receipt'::text, 'consume'::text, 'produce'::text, 'ship'::text, 'transfer'::text, 'adjust'::text, 'scrap'::text, 'return'::text, 'reversal'::text, 'count'::text, 'split'::text]))),
    CONSTRAINT stock_movements_quantity_check CHECK ((quantity <> (0)::numeric)),
    CONSTRAINT stock_movements_reason CHECK (((kind <> ALL (ARRAY['adjust'::text, 'scrap'::text, 'reversal'::text, 'count'::text])) OR (length(btrim(reason)) > 0))),
    CONSTRAINT stock_movements_return_shape CHECK (((kind <> 'return'::text) OR (return_id IS NOT NULL))),
    CONSTRAINT stock_movements_reversal_shape CHECK (((kind = 'reversal'::text) = (reverses_id IS NOT NULL))),
    CONSTRAINT stock_movements_run_shape CHECK (((kind <> ALL (ARRAY['consume'::text, 'produce'::text])) OR (run_id IS NOT NULL))),
    CONSTRAINT stock_movements_ship_shape CHECK (((kind <> 'ship'::text) OR (shipment_id IS NOT NULL))),
    CONSTRAINT stock_movements_sign CHECK ((((kind = ANY (ARRAY['receipt'::text, 'produce'::text])) AND (quantity > (0)::numeric)) OR ((kind = ANY (ARRAY['consume'::text, 'ship'::text, 'scrap'::text])) AND (quantity < (0)::numeric)) OR (kind = ANY (ARRAY['transfer'::text, 'adjust'::text, 'reversal'::text, 'count'::text, 'return'::text, 'split'::text]))))
);

ALTER TABLE public.stock_movements ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.stock_movements_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.units (
    code text NOT NULL,
    name text NOT NULL,
    unece text NOT NULL,
    dimension text NOT NULL,
    to_base numeric(20,9) NOT NULL,
    CONSTRAINT units_dimension_check CHECK ((dimension = ANY (ARRAY['mass'::text, 'volume'::text, 'count'::text]))),
    CONSTRAINT units_to_base_check CHECK ((to_base > (0)::numeric)),
    CONSTRAINT units_unece_check CHECK ((unece ~ '^[A-Z0-9]{2,3}$'::text))
);

CREATE TABLE public.user_roles (
    user_id uuid NOT NULL,
    role_code text NOT NULL
);

CREATE TABLE public.users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    username text NOT NULL,
    display_name text NOT NULL,
    email text,
    password_hash text,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    must_change_password boolean DEFAULT false NOT NULL,
    CONSTRAINT users_display_name_check CHECK (((length(btrim(display_name)) >= 1) AND (length(btrim(display_name)) <= 200))),
    CONSTRAINT users_username_check CHECK ((username ~ '^[A-Za-z0-9._@-]{2,64}$'::text))
);

ALTER TABLE ONLY public._sqlx_migrations
    ADD CONSTRAINT _sqlx_migrations_pkey PRIMARY KEY (version);

ALTER TABLE public.api_tokens
    ADD CONSTRAINT api_tokens_expire CHECK ((expires_at IS NOT NULL)) NOT VALID;

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.epcis_events
    ADD CONSTRAINT epcis_events_pkey PRIMARY KEY (seq);

ALTER TABLE ONLY public.epcis_publication_gaps
    ADD CONSTRAINT epcis_publication_gaps_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.epcis_publication
    ADD CONSTRAINT epcis_publication_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.epcis_queries
    ADD CONSTRAINT epcis_queries_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.epcis_subscriptions
    ADD CONSTRAINT epcis_subscriptions_pkey PRIMARY KEY (id);

ALTER TABLE public.genealogy_links
    ADD CONSTRAINT genealogy_links_occurred_plausible CHECK (((occurred_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (occurred_at < '2101-01-01 00:00:00+00'::timestamp with time zone))) NOT VALID;

ALTER TABLE ONLY public.genealogy_links
    ADD CONSTRAINT genealogy_links_pair_key UNIQUE (input_movement_id, output_movement_id);

ALTER TABLE ONLY public.genealogy_links
    ADD CONSTRAINT genealogy_links_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.locations
    ADD CONSTRAINT locations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.locations
    ADD CONSTRAINT locations_site_code_key UNIQUE (site_id, code);

ALTER TABLE ONLY public.login_throttle
    ADD CONSTRAINT login_throttle_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.lookup_counts
    ADD CONSTRAINT lookup_counts_pkey PRIMARY KEY (lot_id, day);

ALTER TABLE ONLY public.lookup_throttle
    ADD CONSTRAINT lookup_throttle_pkey PRIMARY KEY (address);

ALTER TABLE ONLY public.lot_code_gaps
    ADD CONSTRAINT lot_code_gaps_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.lot_dispositions
    ADD CONSTRAINT lot_dispositions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.lot_holds
    ADD CONSTRAINT lot_holds_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.lot_rules
    ADD CONSTRAINT lot_rules_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.lot_sequences
    ADD CONSTRAINT lot_sequences_pkey PRIMARY KEY (rule_id, scope_key, period_key);

ALTER TABLE public.lots
    ADD CONSTRAINT lots_expires_on_plausible CHECK (((expires_on >= '2000-01-01'::date) AND (expires_on <= '2100-12-31'::date))) NOT VALID;

ALTER TABLE public.lots
    ADD CONSTRAINT lots_made_on_plausible CHECK (((made_on >= '2000-01-01'::date) AND (made_on <= '2100-12-31'::date))) NOT VALID;

ALTER TABLE ONLY public.lots
    ADD CONSTRAINT lots_material_code_key UNIQUE (material_id, code);

ALTER TABLE ONLY public.lots
    ADD CONSTRAINT lots_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.material_gtins
    ADD CONSTRAINT material_gtins_pkey PRIMARY KEY (gtin);

ALTER TABLE ONLY public.materials
    ADD CONSTRAINT materials_code_key UNIQUE (code);

ALTER TABLE ONLY public.materials
    ADD CONSTRAINT materials_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.on_hand
    ADD CONSTRAINT on_hand_pkey PRIMARY KEY (lot_id, location_id);

ALTER TABLE ONLY public.parties
    ADD CONSTRAINT parties_code_key UNIQUE (code);

ALTER TABLE ONLY public.parties
    ADD CONSTRAINT parties_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.party_contacts
    ADD CONSTRAINT party_contacts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.permissions
    ADD CONSTRAINT permissions_pkey PRIMARY KEY (code);

ALTER TABLE ONLY public.production_lines
    ADD CONSTRAINT production_lines_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.production_lines
    ADD CONSTRAINT production_lines_site_code_key UNIQUE (site_id, code);

ALTER TABLE ONLY public.production_runs
    ADD CONSTRAINT production_runs_number_key UNIQUE (number);

ALTER TABLE public.production_runs
    ADD CONSTRAINT production_runs_opened_plausible CHECK (((opened_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (opened_at < '2101-01-01 00:00:00+00'::timestamp with time zone))) NOT VALID;

ALTER TABLE ONLY public.production_runs
    ADD CONSTRAINT production_runs_pkey PRIMARY KEY (id);

ALTER TABLE public.qa_records
    ADD CONSTRAINT qa_records_performed_plausible CHECK (((performed_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (performed_at < '2101-01-01 00:00:00+00'::timestamp with time zone))) NOT VALID;

ALTER TABLE ONLY public.qa_records
    ADD CONSTRAINT qa_records_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.recall_accounting
    ADD CONSTRAINT recall_accounting_pkey PRIMARY KEY (id);

ALTER TABLE public.recall_accounting
    ADD CONSTRAINT recall_accounting_reported_plausible CHECK (((reported_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (reported_at < '2101-01-01 00:00:00+00'::timestamp with time zone))) NOT VALID;

ALTER TABLE ONLY public.recall_decisions
    ADD CONSTRAINT recall_decisions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.recall_lots
    ADD CONSTRAINT recall_lots_pkey PRIMARY KEY (recall_id, lot_id);

ALTER TABLE public.recall_notices
    ADD CONSTRAINT recall_notices_occurred_plausible CHECK (((occurred_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (occurred_at < '2101-01-01 00:00:00+00'::timestamp with time zone))) NOT VALID;

ALTER TABLE ONLY public.recall_notices
    ADD CONSTRAINT recall_notices_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.recall_scopes
    ADD CONSTRAINT recall_scopes_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.recall_suspects
    ADD CONSTRAINT recall_suspects_pkey PRIMARY KEY (recall_id, lot_id);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_number_key UNIQUE (number);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.receipt_lines
    ADD CONSTRAINT receipt_lines_line_key UNIQUE (receipt_id, line_no);

ALTER TABLE ONLY public.receipt_lines
    ADD CONSTRAINT receipt_lines_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.receipts
    ADD CONSTRAINT receipts_number_key UNIQUE (number);

ALTER TABLE ONLY public.receipts
    ADD CONSTRAINT receipts_pkey PRIMARY KEY (id);

ALTER TABLE public.receipts
    ADD CONSTRAINT receipts_received_plausible CHECK (((received_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (received_at < '2101-01-01 00:00:00+00'::timestamp with time zone))) NOT VALID;

ALTER TABLE ONLY public.return_lines
    ADD CONSTRAINT return_lines_line_key UNIQUE (return_id, line_no);

ALTER TABLE ONLY public.return_lines
    ADD CONSTRAINT return_lines_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.returns
    ADD CONSTRAINT returns_number_key UNIQUE (number);

ALTER TABLE public.returns
    ADD CONSTRAINT returns_occurred_plausible CHECK (((occurred_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (occurred_at < '2101-01-01 00:00:00+00'::timestamp with time zone))) NOT VALID;

ALTER TABLE ONLY public.returns
    ADD CONSTRAINT returns_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.role_permissions
    ADD CONSTRAINT role_permissions_pkey PRIMARY KEY (role_code, permission_code);

ALTER TABLE ONLY public.roles
    ADD CONSTRAINT roles_pkey PRIMARY KEY (code);

ALTER TABLE ONLY public.security_alerts
    ADD CONSTRAINT security_alerts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY public.shipment_lines
    ADD CONSTRAINT shipment_lines_line_key UNIQUE (shipment_id, line_no);

ALTER TABLE ONLY public.shipment_lines
    ADD CONSTRAINT shipment_lines_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.shipment_pallets
    ADD CONSTRAINT shipment_pallets_pkey PRIMARY KEY (sscc);

ALTER TABLE ONLY public.shipment_pallets
    ADD CONSTRAINT shipment_pallets_shipment_id_pallet_no_key UNIQUE (shipment_id, pallet_no);

ALTER TABLE ONLY public.shipments
    ADD CONSTRAINT shipments_number_key UNIQUE (number);

ALTER TABLE ONLY public.shipments
    ADD CONSTRAINT shipments_pkey PRIMARY KEY (id);

ALTER TABLE public.shipments
    ADD CONSTRAINT shipments_shipped_plausible CHECK (((shipped_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (shipped_at < '2101-01-01 00:00:00+00'::timestamp with time zone))) NOT VALID;

ALTER TABLE ONLY public.signature_failures
    ADD CONSTRAINT signature_failures_pkey PRIMARY KEY (user_id);

ALTER TABLE ONLY public.signatures
    ADD CONSTRAINT signatures_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.sites
    ADD CONSTRAINT sites_code_key UNIQUE (code);

ALTER TABLE ONLY public.sites
    ADD CONSTRAINT sites_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.stock_count_lines
    ADD CONSTRAINT stock_count_lines_lot_key UNIQUE (count_id, lot_id);

ALTER TABLE ONLY public.stock_count_lines
    ADD CONSTRAINT stock_count_lines_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.stock_counts
    ADD CONSTRAINT stock_counts_number_key UNIQUE (number);

ALTER TABLE ONLY public.stock_counts
    ADD CONSTRAINT stock_counts_pkey PRIMARY KEY (id);

ALTER TABLE public.stock_movements
    ADD CONSTRAINT stock_movements_occurred_plausible CHECK (((occurred_at >= '2000-01-01 00:00:00+00'::timestamp with time zone) AND (occurred_at < '2101-01-01 00:00:00+00'::timestamp with time zone))) NOT VALID;

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.units
    ADD CONSTRAINT units_pkey PRIMARY KEY (code);

ALTER TABLE ONLY public.user_roles
    ADD CONSTRAINT user_roles_pkey PRIMARY KEY (user_id, role_code);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

CREATE INDEX audit_log_actor_idx ON public.audit_log USING btree (actor_id, id);

CREATE INDEX audit_log_entity_idx ON public.audit_log USING btree (entity_type, entity_id, id);

CREATE INDEX audit_log_time_idx ON public.audit_log USING btree (occurred_at);

CREATE INDEX epcis_events_by_id ON public.epcis_events USING btree (event_id);

CREATE INDEX epcis_events_classes ON public.epcis_events USING gin (epc_classes);

CREATE UNIQUE INDEX epcis_events_current ON public.epcis_events USING btree (event_key) WHERE ((NOT retraction) AND (retracted_at IS NULL));

CREATE INDEX epcis_events_lots ON public.epcis_events USING gin (lots);

CREATE INDEX epcis_events_movements ON public.epcis_events USING gin (movements);

CREATE UNIQUE INDEX epcis_events_one_retraction ON public.epcis_events USING btree (event_id) WHERE retraction;

CREATE INDEX epcis_events_run ON public.epcis_events USING btree (run_id) WHERE (run_id IS NOT NULL);

CREATE INDEX epcis_events_time ON public.epcis_events USING btree (event_time);

CREATE INDEX genealogy_links_from_idx ON public.genealogy_links USING btree (from_lot_id, occurred_at) INCLUDE (to_lot_id, run_id, kind) WHERE (reversed_at IS NULL);

CREATE INDEX genealogy_links_input_movement ON public.genealogy_links USING btree (input_movement_id);

CREATE INDEX genealogy_links_output_movement ON public.genealogy_links USING btree (output_movement_id);

CREATE INDEX genealogy_links_run_idx ON public.genealogy_links USING btree (run_id) WHERE (run_id IS NOT NULL);

CREATE INDEX genealogy_links_to_idx ON public.genealogy_links USING btree (to_lot_id, occurred_at) INCLUDE (from_lot_id, run_id, kind) WHERE (reversed_at IS NULL);

CREATE INDEX login_throttle_window_idx ON public.login_throttle USING btree (window_start);

CREATE INDEX lookup_throttle_window_idx ON public.lookup_throttle USING btree (window_start);

CREATE INDEX lot_code_gaps_rule_idx ON public.lot_code_gaps USING btree (rule_id, scope_key, period_key, value);

CREATE INDEX lot_dispositions_lot_idx ON public.lot_dispositions USING btree (lot_id, id);

CREATE INDEX lot_holds_open_idx ON public.lot_holds USING btree (lot_id) WHERE (closed_at IS NULL);

CREATE INDEX lot_holds_recall_idx ON public.lot_holds USING btree (recall_id) WHERE (recall_id IS NOT NULL);

CREATE UNIQUE INDEX lot_rules_one_default ON public.lot_rules USING btree ((true)) WHERE ((scope = 'default'::text) AND active);

CREATE UNIQUE INDEX lot_rules_one_per_kind ON public.lot_rules USING btree (scope_kind) WHERE ((scope = 'kind'::text) AND active);

CREATE UNIQUE INDEX lot_rules_one_per_material ON public.lot_rules USING btree (scope_material) WHERE ((scope = 'material'::text) AND active);

CREATE INDEX lot_touches_xid_idx ON public.lot_touches USING btree (xid);

CREATE INDEX lots_code_idx ON public.lots USING btree (code);

CREATE INDEX lots_code_key ON public.lots USING btree (public.lot_key(code));

CREATE UNIQUE INDEX lots_code_seq_once ON public.lots USING btree (code_rule_id, code_scope, code_period, code_seq) WHERE (code_rule_id IS NOT NULL);

CREATE INDEX lots_code_upper_idx ON public.lots USING btree (upper(code));

CREATE INDEX lots_expires_idx ON public.lots USING btree (expires_on) WHERE (expires_on IS NOT NULL);

CREATE INDEX lots_quarantine_idx ON public.lots USING btree (id) WHERE (disposition = 'quarantine'::text);

CREATE INDEX lots_run_idx ON public.lots USING btree (run_id) WHERE (run_id IS NOT NULL);

CREATE INDEX lots_supplier_lot_idx ON public.lots USING btree (supplier_lot, supplier_id) WHERE (supplier_lot IS NOT NULL);

CREATE INDEX lots_tlc_key ON public.lots USING btree (public.lot_key(tlc));

CREATE INDEX lots_tlc_upper_idx ON public.lots USING btree (upper(tlc));

CREATE INDEX material_gtins_material_idx ON public.material_gtins USING btree (material_id);

CREATE INDEX on_hand_location_idx ON public.on_hand USING btree (location_id) WHERE (quantity > (0)::numeric);

CREATE INDEX on_hand_positive_lot_idx ON public.on_hand USING btree (lot_id) WHERE (quantity > (0)::numeric);

CREATE INDEX party_contacts_party_idx ON public.party_contacts USING btree (party_id);

CREATE INDEX production_runs_open_idx ON public.production_runs USING btree (site_id) WHERE (status = 'open'::text);

CREATE INDEX qa_records_lot_idx ON public.qa_records USING btree (lot_id, performed_at);

CREATE INDEX recall_accounting_idx ON public.recall_accounting USING btree (recall_id, party_id, lot_id, id);

CREATE INDEX recall_decisions_lot_idx ON public.recall_decisions USING btree (lot_id);

CREATE INDEX recall_lots_lot_idx ON public.recall_lots USING btree (lot_id);

CREATE INDEX recall_notices_recall_idx ON public.recall_notices USING btree (recall_id, party_id, id);

CREATE INDEX recall_scopes_recall_idx ON public.recall_scopes USING btree (recall_id, id);

CREATE INDEX receipt_lines_lot_idx ON public.receipt_lines USING btree (lot_id);

CREATE INDEX receipts_supplier_idx ON public.receipts USING btree (supplier_id, received_at);

CREATE INDEX return_lines_lot_idx ON public.return_lines USING btree (lot_id);

CREATE INDEX return_lines_shipment_line_idx ON public.return_lines USING btree (shipment_line_id) WHERE (shipment_line_id IS NOT NULL);

CREATE INDEX security_alerts_open_idx ON public.security_alerts USING btree (raised_at) WHERE (acknowledged_at IS NULL);

CREATE INDEX sessions_expires_idx ON public.sessions USING btree (expires_at);

CREATE INDEX sessions_user_idx ON public.sessions USING btree (user_id);

CREATE INDEX shipment_lines_lot_idx ON public.shipment_lines USING btree (lot_id);

CREATE INDEX shipments_customer_idx ON public.shipments USING btree (customer_id, shipped_at);

CREATE INDEX signatures_entity_idx ON public.signatures USING btree (entity_type, entity_id);

CREATE INDEX stock_counts_location_idx ON public.stock_counts USING btree (location_id, opened_at);

CREATE INDEX stock_movements_lot_idx ON public.stock_movements USING btree (lot_id, id);

CREATE INDEX stock_movements_posting_idx ON public.stock_movements USING btree (posting_id);

CREATE INDEX stock_movements_recorded ON public.stock_movements USING btree (recorded_at);

CREATE UNIQUE INDEX stock_movements_reversed_once ON public.stock_movements USING btree (reverses_id) WHERE (reverses_id IS NOT NULL);

CREATE INDEX stock_movements_run_idx ON public.stock_movements USING btree (run_id) WHERE (run_id IS NOT NULL);

CREATE INDEX stock_movements_shipment_idx ON public.stock_movements USING btree (shipment_id) WHERE (shipment_id IS NOT NULL);

CREATE UNIQUE INDEX users_username_key ON public.users USING btree (lower(username));

CREATE TRIGGER audit_log_append_only BEFORE DELETE OR UPDATE ON public.audit_log FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER audit_log_lot_pages AFTER INSERT ON public.audit_log REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_audited();

CREATE TRIGGER audit_log_lot_pages_truncate AFTER TRUNCATE ON public.audit_log FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON public.audit_log FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER epcis_events_append_only BEFORE DELETE OR UPDATE ON public.epcis_events FOR EACH ROW EXECUTE FUNCTION public.epcis_events_append_only();

CREATE TRIGGER epcis_events_no_truncate BEFORE TRUNCATE ON public.epcis_events FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER genealogy_links_gate BEFORE INSERT ON public.genealogy_links FOR EACH STATEMENT EXECUTE FUNCTION public.genealogy_gate();

CREATE TRIGGER genealogy_links_guard BEFORE DELETE OR UPDATE ON public.genealogy_links FOR EACH ROW EXECUTE FUNCTION public.genealogy_links_guard();

CREATE TRIGGER genealogy_links_lot_pages_insert AFTER INSERT ON public.genealogy_links REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_linked();

CREATE TRIGGER genealogy_links_lot_pages_truncate AFTER TRUNCATE ON public.genealogy_links FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER genealogy_links_lot_pages_update AFTER UPDATE ON public.genealogy_links REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_linked();

CREATE TRIGGER locations_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.locations FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER locations_touch BEFORE UPDATE ON public.locations FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER lot_dispositions_append_only BEFORE DELETE OR UPDATE ON public.lot_dispositions FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER lot_dispositions_lot_pages_delete AFTER DELETE ON public.lot_dispositions REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_old();

CREATE TRIGGER lot_dispositions_lot_pages_insert AFTER INSERT ON public.lot_dispositions REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER lot_dispositions_lot_pages_truncate AFTER TRUNCATE ON public.lot_dispositions FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER lot_dispositions_lot_pages_update AFTER UPDATE ON public.lot_dispositions REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER lot_holds_lot_pages_delete AFTER DELETE ON public.lot_holds REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_old();

CREATE TRIGGER lot_holds_lot_pages_insert AFTER INSERT ON public.lot_holds REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER lot_holds_lot_pages_truncate AFTER TRUNCATE ON public.lot_holds FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER lot_holds_lot_pages_update AFTER UPDATE ON public.lot_holds REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER lot_rules_touch BEFORE UPDATE ON public.lot_rules FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER lots_lot_pages AFTER UPDATE ON public.lots REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_by_id();

CREATE TRIGGER lots_lot_pages_truncate AFTER TRUNCATE ON public.lots FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER lots_touch BEFORE UPDATE ON public.lots FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER materials_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.materials FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER materials_touch BEFORE UPDATE ON public.materials FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER on_hand_lot_pages_delete AFTER DELETE ON public.on_hand REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_old();

CREATE TRIGGER on_hand_lot_pages_insert AFTER INSERT ON public.on_hand REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER on_hand_lot_pages_truncate AFTER TRUNCATE ON public.on_hand FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER on_hand_lot_pages_update AFTER UPDATE ON public.on_hand REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER parties_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.parties FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER parties_touch BEFORE UPDATE ON public.parties FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER party_contacts_touch BEFORE UPDATE ON public.party_contacts FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER production_lines_touch BEFORE UPDATE ON public.production_lines FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER production_runs_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.production_runs FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER production_runs_touch BEFORE UPDATE ON public.production_runs FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER qa_records_append_only BEFORE DELETE OR UPDATE ON public.qa_records FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER qa_records_lot_pages_delete AFTER DELETE ON public.qa_records REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_old();

CREATE TRIGGER qa_records_lot_pages_insert AFTER INSERT ON public.qa_records REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER qa_records_lot_pages_truncate AFTER TRUNCATE ON public.qa_records FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER qa_records_lot_pages_update AFTER UPDATE ON public.qa_records REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER recall_accounting_append_only BEFORE DELETE OR UPDATE ON public.recall_accounting FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER recall_accounting_open BEFORE INSERT ON public.recall_accounting FOR EACH ROW EXECUTE FUNCTION public.recall_open_guard();

CREATE TRIGGER recall_decisions_append_only BEFORE DELETE OR UPDATE ON public.recall_decisions FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER recall_lots_open BEFORE INSERT OR UPDATE ON public.recall_lots FOR EACH ROW EXECUTE FUNCTION public.recall_open_guard();

CREATE TRIGGER recall_notices_append_only BEFORE DELETE OR UPDATE ON public.recall_notices FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER recall_notices_open BEFORE INSERT ON public.recall_notices FOR EACH ROW EXECUTE FUNCTION public.recall_open_guard();

CREATE TRIGGER recall_scopes_append_only BEFORE DELETE OR UPDATE ON public.recall_scopes FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER recall_scopes_open BEFORE INSERT ON public.recall_scopes FOR EACH ROW EXECUTE FUNCTION public.recall_open_guard();

CREATE TRIGGER recalls_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.recalls FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER recalls_touch BEFORE UPDATE ON public.recalls FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER receipts_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.receipts FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER returns_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.returns FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER shipment_lines_lot_pages_delete AFTER DELETE ON public.shipment_lines REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_old();

CREATE TRIGGER shipment_lines_lot_pages_insert AFTER INSERT ON public.shipment_lines REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER shipment_lines_lot_pages_truncate AFTER TRUNCATE ON public.shipment_lines FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER shipment_lines_lot_pages_update AFTER UPDATE ON public.shipment_lines REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER shipment_pallets_append_only BEFORE DELETE OR UPDATE ON public.shipment_pallets FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER shipments_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.shipments FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER signatures_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.signatures FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER sites_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.sites FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER sites_time_zone BEFORE INSERT OR UPDATE OF time_zone ON public.sites FOR EACH ROW EXECUTE FUNCTION public.check_time_zone();

CREATE TRIGGER sites_touch BEFORE UPDATE ON public.sites FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER stock_count_lines_guard BEFORE INSERT OR DELETE OR UPDATE ON public.stock_count_lines FOR EACH ROW EXECUTE FUNCTION public.stock_count_lines_guard();

CREATE TRIGGER stock_counts_touch BEFORE UPDATE ON public.stock_counts FOR EACH ROW EXECUTE FUNCTION public.touch_row();

CREATE TRIGGER stock_movements_append_only BEFORE DELETE OR UPDATE ON public.stock_movements FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER stock_movements_apply AFTER INSERT ON public.stock_movements REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.apply_movements();

CREATE TRIGGER stock_movements_lot_pages AFTER INSERT ON public.stock_movements REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.touch_lots_new();

CREATE TRIGGER stock_movements_lot_pages_truncate AFTER TRUNCATE ON public.stock_movements FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER stock_movements_no_truncate BEFORE TRUNCATE ON public.stock_movements FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER users_lot_pages AFTER DELETE OR UPDATE OR TRUNCATE ON public.users FOR EACH STATEMENT EXECUTE FUNCTION public.touch_all_lots();

CREATE TRIGGER users_touch BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.touch_row();

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.epcis_events
    ADD CONSTRAINT epcis_events_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.production_runs(id);

ALTER TABLE ONLY public.epcis_queries
    ADD CONSTRAINT epcis_queries_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.epcis_subscriptions
    ADD CONSTRAINT epcis_subscriptions_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.epcis_subscriptions
    ADD CONSTRAINT epcis_subscriptions_query_name_fkey FOREIGN KEY (query_name) REFERENCES public.epcis_queries(name) ON DELETE CASCADE;

ALTER TABLE ONLY public.genealogy_links
    ADD CONSTRAINT genealogy_links_from_lot_id_fkey FOREIGN KEY (from_lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.genealogy_links
    ADD CONSTRAINT genealogy_links_input_movement_id_fkey FOREIGN KEY (input_movement_id) REFERENCES public.stock_movements(id);

ALTER TABLE ONLY public.genealogy_links
    ADD CONSTRAINT genealogy_links_output_movement_id_fkey FOREIGN KEY (output_movement_id) REFERENCES public.stock_movements(id);

ALTER TABLE ONLY public.genealogy_links
    ADD CONSTRAINT genealogy_links_reversal_movement_id_fkey FOREIGN KEY (reversal_movement_id) REFERENCES public.stock_movements(id);

ALTER TABLE ONLY public.genealogy_links
    ADD CONSTRAINT genealogy_links_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.production_runs(id);

ALTER TABLE ONLY public.genealogy_links
    ADD CONSTRAINT genealogy_links_to_lot_id_fkey FOREIGN KEY (to_lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.locations
    ADD CONSTRAINT locations_site_id_fkey FOREIGN KEY (site_id) REFERENCES public.sites(id);

ALTER TABLE ONLY public.lookup_counts
    ADD CONSTRAINT lookup_counts_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.lot_code_gaps
    ADD CONSTRAINT lot_code_gaps_rule_id_fkey FOREIGN KEY (rule_id) REFERENCES public.lot_rules(id);

ALTER TABLE ONLY public.lot_dispositions
    ADD CONSTRAINT lot_dispositions_decided_by_fkey FOREIGN KEY (decided_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.lot_dispositions
    ADD CONSTRAINT lot_dispositions_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.lot_dispositions
    ADD CONSTRAINT lot_dispositions_signature_id_fkey FOREIGN KEY (signature_id) REFERENCES public.signatures(id);

ALTER TABLE ONLY public.lot_holds
    ADD CONSTRAINT lot_holds_close_signature_fkey FOREIGN KEY (close_signature) REFERENCES public.signatures(id);

ALTER TABLE ONLY public.lot_holds
    ADD CONSTRAINT lot_holds_closed_by_fkey FOREIGN KEY (closed_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.lot_holds
    ADD CONSTRAINT lot_holds_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.lot_holds
    ADD CONSTRAINT lot_holds_opened_by_fkey FOREIGN KEY (opened_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.lot_holds
    ADD CONSTRAINT lot_holds_recall_id_fkey FOREIGN KEY (recall_id) REFERENCES public.recalls(id);

ALTER TABLE ONLY public.lot_rules
    ADD CONSTRAINT lot_rules_scope_material_fkey FOREIGN KEY (scope_material) REFERENCES public.materials(id);

ALTER TABLE ONLY public.lot_rules
    ADD CONSTRAINT lot_rules_signature_id_fkey FOREIGN KEY (signature_id) REFERENCES public.signatures(id);

ALTER TABLE ONLY public.lot_sequences
    ADD CONSTRAINT lot_sequences_rule_id_fkey FOREIGN KEY (rule_id) REFERENCES public.lot_rules(id);

ALTER TABLE ONLY public.lots
    ADD CONSTRAINT lots_code_rule_id_fkey FOREIGN KEY (code_rule_id) REFERENCES public.lot_rules(id);

ALTER TABLE ONLY public.lots
    ADD CONSTRAINT lots_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.lots
    ADD CONSTRAINT lots_material_id_fkey FOREIGN KEY (material_id) REFERENCES public.materials(id);

ALTER TABLE ONLY public.lots
    ADD CONSTRAINT lots_receipt_id_fkey FOREIGN KEY (receipt_id) REFERENCES public.receipts(id);

ALTER TABLE ONLY public.lots
    ADD CONSTRAINT lots_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.production_runs(id);

ALTER TABLE ONLY public.lots
    ADD CONSTRAINT lots_site_id_fkey FOREIGN KEY (site_id) REFERENCES public.sites(id);

ALTER TABLE ONLY public.lots
    ADD CONSTRAINT lots_supplier_id_fkey FOREIGN KEY (supplier_id) REFERENCES public.parties(id);

ALTER TABLE ONLY public.material_gtins
    ADD CONSTRAINT material_gtins_material_id_fkey FOREIGN KEY (material_id) REFERENCES public.materials(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.materials
    ADD CONSTRAINT materials_uom_fkey FOREIGN KEY (uom) REFERENCES public.units(code);

ALTER TABLE ONLY public.on_hand
    ADD CONSTRAINT on_hand_location_id_fkey FOREIGN KEY (location_id) REFERENCES public.locations(id);

ALTER TABLE ONLY public.on_hand
    ADD CONSTRAINT on_hand_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.party_contacts
    ADD CONSTRAINT party_contacts_party_id_fkey FOREIGN KEY (party_id) REFERENCES public.parties(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.production_lines
    ADD CONSTRAINT production_lines_site_id_fkey FOREIGN KEY (site_id) REFERENCES public.sites(id);

ALTER TABLE ONLY public.production_runs
    ADD CONSTRAINT production_runs_closed_by_fkey FOREIGN KEY (closed_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.production_runs
    ADD CONSTRAINT production_runs_line_id_fkey FOREIGN KEY (line_id) REFERENCES public.production_lines(id);

ALTER TABLE ONLY public.production_runs
    ADD CONSTRAINT production_runs_opened_by_fkey FOREIGN KEY (opened_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.production_runs
    ADD CONSTRAINT production_runs_output_material_id_fkey FOREIGN KEY (output_material_id) REFERENCES public.materials(id);

ALTER TABLE ONLY public.production_runs
    ADD CONSTRAINT production_runs_site_id_fkey FOREIGN KEY (site_id) REFERENCES public.sites(id);

ALTER TABLE ONLY public.qa_records
    ADD CONSTRAINT qa_records_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.qa_records
    ADD CONSTRAINT qa_records_recorded_by_fkey FOREIGN KEY (recorded_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.recall_accounting
    ADD CONSTRAINT recall_accounting_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.recall_accounting
    ADD CONSTRAINT recall_accounting_party_id_fkey FOREIGN KEY (party_id) REFERENCES public.parties(id);

ALTER TABLE ONLY public.recall_accounting
    ADD CONSTRAINT recall_accounting_recall_id_fkey FOREIGN KEY (recall_id) REFERENCES public.recalls(id);

ALTER TABLE ONLY public.recall_accounting
    ADD CONSTRAINT recall_accounting_recorded_by_fkey FOREIGN KEY (recorded_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.recall_decisions
    ADD CONSTRAINT recall_decisions_decided_by_fkey FOREIGN KEY (decided_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.recall_decisions
    ADD CONSTRAINT recall_decisions_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.recall_decisions
    ADD CONSTRAINT recall_decisions_recall_id_fkey FOREIGN KEY (recall_id) REFERENCES public.recalls(id);

ALTER TABLE ONLY public.recall_decisions
    ADD CONSTRAINT recall_decisions_signature_id_fkey FOREIGN KEY (signature_id) REFERENCES public.signatures(id);

ALTER TABLE ONLY public.recall_lots
    ADD CONSTRAINT recall_lots_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.recall_lots
    ADD CONSTRAINT recall_lots_recall_id_fkey FOREIGN KEY (recall_id) REFERENCES public.recalls(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.recall_notices
    ADD CONSTRAINT recall_notices_party_id_fkey FOREIGN KEY (party_id) REFERENCES public.parties(id);

ALTER TABLE ONLY public.recall_notices
    ADD CONSTRAINT recall_notices_recall_id_fkey FOREIGN KEY (recall_id) REFERENCES public.recalls(id);

ALTER TABLE ONLY public.recall_notices
    ADD CONSTRAINT recall_notices_recorded_by_fkey FOREIGN KEY (recorded_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.recall_scopes
    ADD CONSTRAINT recall_scopes_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.recall_scopes
    ADD CONSTRAINT recall_scopes_recall_id_fkey FOREIGN KEY (recall_id) REFERENCES public.recalls(id);

ALTER TABLE ONLY public.recall_scopes
    ADD CONSTRAINT recall_scopes_signature_id_fkey FOREIGN KEY (signature_id) REFERENCES public.signatures(id);

ALTER TABLE ONLY public.recall_suspects
    ADD CONSTRAINT recall_suspects_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.recall_suspects
    ADD CONSTRAINT recall_suspects_recall_id_fkey FOREIGN KEY (recall_id) REFERENCES public.recalls(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_closed_by_fkey FOREIGN KEY (closed_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_closed_signature_fkey FOREIGN KEY (closed_signature) REFERENCES public.signatures(id);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_notice_withdrawn_by_fkey FOREIGN KEY (notice_withdrawn_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_notice_withdrawn_signature_fkey FOREIGN KEY (notice_withdrawn_signature) REFERENCES public.signatures(id);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_opened_by_fkey FOREIGN KEY (opened_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_opened_signature_fkey FOREIGN KEY (opened_signature) REFERENCES public.signatures(id);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_report_completed_by_fkey FOREIGN KEY (report_completed_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_supplier_id_fkey FOREIGN KEY (supplier_id) REFERENCES public.parties(id);

ALTER TABLE ONLY public.recalls
    ADD CONSTRAINT recalls_threshold_signature_fkey FOREIGN KEY (threshold_signature) REFERENCES public.signatures(id);

ALTER TABLE ONLY public.receipt_lines
    ADD CONSTRAINT receipt_lines_location_id_fkey FOREIGN KEY (location_id) REFERENCES public.locations(id);

ALTER TABLE ONLY public.receipt_lines
    ADD CONSTRAINT receipt_lines_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.receipt_lines
    ADD CONSTRAINT receipt_lines_movement_id_fkey FOREIGN KEY (movement_id) REFERENCES public.stock_movements(id);

ALTER TABLE ONLY public.receipt_lines
    ADD CONSTRAINT receipt_lines_receipt_id_fkey FOREIGN KEY (receipt_id) REFERENCES public.receipts(id);

ALTER TABLE ONLY public.receipts
    ADD CONSTRAINT receipts_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.receipts
    ADD CONSTRAINT receipts_site_id_fkey FOREIGN KEY (site_id) REFERENCES public.sites(id);

ALTER TABLE ONLY public.receipts
    ADD CONSTRAINT receipts_supplier_id_fkey FOREIGN KEY (supplier_id) REFERENCES public.parties(id);

ALTER TABLE ONLY public.return_lines
    ADD CONSTRAINT return_lines_location_id_fkey FOREIGN KEY (location_id) REFERENCES public.locations(id);

ALTER TABLE ONLY public.return_lines
    ADD CONSTRAINT return_lines_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.return_lines
    ADD CONSTRAINT return_lines_movement_id_fkey FOREIGN KEY (movement_id) REFERENCES public.stock_movements(id);

ALTER TABLE ONLY public.return_lines
    ADD CONSTRAINT return_lines_return_id_fkey FOREIGN KEY (return_id) REFERENCES public.returns(id);

ALTER TABLE ONLY public.return_lines
    ADD CONSTRAINT return_lines_shipment_line_id_fkey FOREIGN KEY (shipment_line_id) REFERENCES public.shipment_lines(id);

ALTER TABLE ONLY public.returns
    ADD CONSTRAINT returns_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.returns
    ADD CONSTRAINT returns_party_id_fkey FOREIGN KEY (party_id) REFERENCES public.parties(id);

ALTER TABLE ONLY public.returns
    ADD CONSTRAINT returns_recall_id_fkey FOREIGN KEY (recall_id) REFERENCES public.recalls(id);

ALTER TABLE ONLY public.returns
    ADD CONSTRAINT returns_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES public.shipments(id);

ALTER TABLE ONLY public.role_permissions
    ADD CONSTRAINT role_permissions_permission_code_fkey FOREIGN KEY (permission_code) REFERENCES public.permissions(code) ON DELETE CASCADE;

ALTER TABLE ONLY public.role_permissions
    ADD CONSTRAINT role_permissions_role_code_fkey FOREIGN KEY (role_code) REFERENCES public.roles(code) ON DELETE CASCADE;

ALTER TABLE ONLY public.security_alerts
    ADD CONSTRAINT security_alerts_acknowledged_by_fkey FOREIGN KEY (acknowledged_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.security_alerts
    ADD CONSTRAINT security_alerts_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.shipment_lines
    ADD CONSTRAINT shipment_lines_location_id_fkey FOREIGN KEY (location_id) REFERENCES public.locations(id);

ALTER TABLE ONLY public.shipment_lines
    ADD CONSTRAINT shipment_lines_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.shipment_lines
    ADD CONSTRAINT shipment_lines_movement_id_fkey FOREIGN KEY (movement_id) REFERENCES public.stock_movements(id);

ALTER TABLE ONLY public.shipment_lines
    ADD CONSTRAINT shipment_lines_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES public.shipments(id);

ALTER TABLE ONLY public.shipment_pallets
    ADD CONSTRAINT shipment_pallets_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES public.shipments(id);

ALTER TABLE ONLY public.shipments
    ADD CONSTRAINT shipments_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.shipments
    ADD CONSTRAINT shipments_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.parties(id);

ALTER TABLE ONLY public.shipments
    ADD CONSTRAINT shipments_site_id_fkey FOREIGN KEY (site_id) REFERENCES public.sites(id);

ALTER TABLE ONLY public.signature_failures
    ADD CONSTRAINT signature_failures_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.signatures
    ADD CONSTRAINT signatures_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.stock_count_lines
    ADD CONSTRAINT stock_count_lines_count_id_fkey FOREIGN KEY (count_id) REFERENCES public.stock_counts(id);

ALTER TABLE ONLY public.stock_count_lines
    ADD CONSTRAINT stock_count_lines_counted_by_fkey FOREIGN KEY (counted_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.stock_count_lines
    ADD CONSTRAINT stock_count_lines_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.stock_count_lines
    ADD CONSTRAINT stock_count_lines_movement_id_fkey FOREIGN KEY (movement_id) REFERENCES public.stock_movements(id);

ALTER TABLE ONLY public.stock_count_lines
    ADD CONSTRAINT stock_count_lines_posted_by_fkey FOREIGN KEY (posted_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.stock_counts
    ADD CONSTRAINT stock_counts_location_id_fkey FOREIGN KEY (location_id) REFERENCES public.locations(id);

ALTER TABLE ONLY public.stock_counts
    ADD CONSTRAINT stock_counts_opened_by_fkey FOREIGN KEY (opened_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.stock_counts
    ADD CONSTRAINT stock_counts_posted_by_fkey FOREIGN KEY (posted_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.stock_counts
    ADD CONSTRAINT stock_counts_submitted_by_fkey FOREIGN KEY (submitted_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_location_id_fkey FOREIGN KEY (location_id) REFERENCES public.locations(id);

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lots(id);

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_recall_id_fkey FOREIGN KEY (recall_id) REFERENCES public.recalls(id);

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_receipt_id_fkey FOREIGN KEY (receipt_id) REFERENCES public.receipts(id);

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_return_id_fkey FOREIGN KEY (return_id) REFERENCES public.returns(id);

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_reverses_id_fkey FOREIGN KEY (reverses_id) REFERENCES public.stock_movements(id);

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.production_runs(id);

ALTER TABLE ONLY public.stock_movements
    ADD CONSTRAINT stock_movements_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES public.shipments(id);

ALTER TABLE ONLY public.user_roles
    ADD CONSTRAINT user_roles_role_code_fkey FOREIGN KEY (role_code) REFERENCES public.roles(code);

ALTER TABLE ONLY public.user_roles
    ADD CONSTRAINT user_roles_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

