-- The reached lots' facts (migration 0007, trace_lots) in two reads that run at once: the lots'
-- own rows, and their open holds. trace_lots counted each lot's open holds in a subquery run once
-- per lot (a hundred thousand runs for a tank's trace: a third of the read, about 100 ms), though
-- open holds are few and most lots have none; a probe of the open holds' index per id finds the
-- few there are (20 ms for the same lots).
create function trace_lot_rows(ids uuid[])
returns table (id uuid, code text, material_id uuid, supplier_id uuid, supplier_lot text, disposition text, expires_on date)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
    return query
    select l.id, l.code, l.material_id, l.supplier_id, l.supplier_lot, l.disposition, l.expires_on
      from unnest(ids) as i(id)
      join lots l on l.id = i.id;
end
$$;

-- Per lot with open holds: how many, and whether one is an open recall's (not a mock's).
create function trace_open_holds(ids uuid[])
returns table (lot_id uuid, open_holds bigint, recalled boolean)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
    return query
    select h.lot_id, count(*), bool_or(r.id is not null and r.status = 'open' and not r.mock)
      from lot_holds h left join recalls r on r.id = h.recall_id
     where h.lot_id = any(ids) and h.closed_at is null
     group by h.lot_id;
end
$$;

drop function trace_lots(uuid[]);
