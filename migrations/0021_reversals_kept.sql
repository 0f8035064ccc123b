-- A reversed shipment line stays in traces and recall scopes, flagged: a reversal corrects the
-- ledger, but QA still sees who once had the goods, and a recall built from a trace names them.
drop function trace_shipments(uuid[]);
create function trace_shipments(ids uuid[])
returns table (lot_id uuid, number text, customer_id uuid, quantity numeric, shipped_at timestamptz, reversed boolean)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off set plan_cache_mode = force_generic_plan
as $$
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
