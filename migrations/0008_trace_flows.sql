-- The ledger a forward trace's shares are computed from (see trace.rs, `quantities`): every
-- movement of the reached lots, and every consumption of the runs that made them (an input from
-- outside the trace still dilutes the mix). Reversed movements and reversals are left out, as if
-- they never happened. Planned like the other trace reads (0007): index lookups per lot and per
-- run, never a scan of the ledger. Rows come unordered and in the lot's own unit; the caller
-- orders them and converts with trace_kg_per_unit, which is cheaper than a join per movement.
create function trace_flows(ids uuid[])
returns table (id bigint, lot_id uuid, kind text, quantity numeric, run_id uuid, posting_id uuid, occurred_at timestamptz, outside boolean)
language sql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
    -- The second part repeats the reached lots' own consumptions; they come marked `outside`
    -- and the caller drops those of reached lots (a filter here, "lot_id <> all(ids)", would
    -- compare each row with every id, and a union would hash every row).
    select mv.id, mv.lot_id, mv.kind, mv.quantity, mv.run_id, mv.posting_id, mv.occurred_at, false
      from stock_movements mv
     where mv.lot_id = any(ids)
       and mv.kind not in ('reversal', 'transfer') and mv.reverses_id is null
       and not exists (select 1 from stock_movements x where x.reverses_id = mv.id)
    union all
    select mv.id, mv.lot_id, mv.kind, mv.quantity, mv.run_id, mv.posting_id, mv.occurred_at, true
      from stock_movements mv
     where mv.run_id = any(array(select distinct o.run_id from stock_movements o where o.lot_id = any(ids) and o.run_id is not null))
       and mv.kind = 'consume' and mv.reverses_id is null
       and not exists (select 1 from stock_movements x where x.reverses_id = mv.id)
$$;

-- Kilograms per unit of each lot's material: the unit's own factor for mass units, the
-- material's mass per unit otherwise; null where no mass is known.
create function trace_kg_per_unit(ids uuid[])
returns table (lot_id uuid, kg numeric)
language sql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
    select l.id, case when u.dimension = 'mass' then u.to_base else m.mass_per_unit_kg end
      from lots l join materials m on m.id = l.material_id join units u on u.code = m.uom
     where l.id = any(ids)
$$;

-- The links of a lot's lot-level closure, downstream (where used) and upstream (where from), in
-- one round trip each: a recursive query finds the closure's lots as a plain recursive query
-- would, then their links are read from the same index. Index lookups only, as above.
create function trace_links_down(start uuid)
returns table (from_lot_id uuid, to_lot_id uuid, occurred_at timestamptz, run_id uuid, kind text)
language sql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
    with recursive reach(lot) as (
        select start
        union
        select g.to_lot_id from reach r join genealogy_links g on g.from_lot_id = r.lot where g.reversed_at is null
    )
    select g.from_lot_id, g.to_lot_id, g.occurred_at, g.run_id, case when g.run_id is null then g.kind end
      from reach r join genealogy_links g on g.from_lot_id = r.lot
     where g.reversed_at is null
$$;

create function trace_links_up(start uuid)
returns table (from_lot_id uuid, to_lot_id uuid, occurred_at timestamptz, run_id uuid, kind text)
language sql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
    with recursive reach(lot) as (
        select start
        union
        select g.from_lot_id from reach r join genealogy_links g on g.to_lot_id = r.lot where g.reversed_at is null
    )
    select g.from_lot_id, g.to_lot_id, g.occurred_at, g.run_id, case when g.run_id is null then g.kind end
      from reach r join genealogy_links g on g.to_lot_id = r.lot
     where g.reversed_at is null
$$;
