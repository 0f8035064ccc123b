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
