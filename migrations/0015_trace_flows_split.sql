-- The share sweep's ledger (migration 0007, trace_flows) in two reads that can run at once, for
-- traces that know the runs beforehand (from the link index, links.rs): the reached lots' own
-- movements, and the consumptions of the runs that made them. Reversed movements and reversals
-- are left out, as in trace_flows.
create function trace_flows_own(ids uuid[])
returns table (id bigint, lot_id uuid, kind text, quantity numeric, run_id uuid, posting_id uuid, occurred_at timestamptz)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off set plan_cache_mode = force_generic_plan
as $$
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

create function trace_flows_consumed(runs uuid[])
returns table (id bigint, lot_id uuid, kind text, quantity numeric, run_id uuid, posting_id uuid, occurred_at timestamptz)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off set plan_cache_mode = force_generic_plan
as $$
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

-- trace_flows, for traces without the link index, is now these two halves: which movements count
-- is written once.
create or replace function trace_flows(ids uuid[])
returns table (id bigint, lot_id uuid, kind text, quantity numeric, run_id uuid, posting_id uuid, occurred_at timestamptz, outside boolean)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off set plan_cache_mode = force_generic_plan
as $$
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
