-- The reads a trace makes (trace.rs): the closure's links, then the facts, stock, shipments and
-- ledger of a set of lot ids that may hold tens of thousands. Each lot is a handful of index
-- lookups (a few microseconds, cached). But for a large id array the planner's estimates favour
-- scanning whole tables (a million stock rows, every shipment) and hashing them, ten to fifty
-- times slower on the plant's own data. These functions pin the plan to index lookups, for these
-- reads only: the SET clauses apply while each body is planned and run, and nowhere else. They are
-- PL/pgSQL so that their statements keep their plans for the connection's life (a SQL function with
-- SET clauses is planned afresh at every call, about a millisecond each).

-- Facts of the reached lots; materials, suppliers and customers come as ids, since a trace of
-- thousands of lots names only a few of them and the caller reads those once each.
create function trace_lots(ids uuid[])
returns table (id uuid, code text, material_id uuid, supplier_id uuid, supplier_lot text, disposition text,
               expires_on date, open_holds bigint, recalled boolean)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
#variable_conflict use_column
begin
    return query
    select l.id, l.code, l.material_id, l.supplier_id, l.supplier_lot, l.disposition, l.expires_on,
           coalesce(h.open_holds, 0), coalesce(h.recalled, false)
      from unnest(ids) as i(id)
      join lots l on l.id = i.id
      left join lateral (
            select count(*) as open_holds, bool_or(r.id is not null and r.status = 'open' and not r.mock) as recalled
              from lot_holds h left join recalls r on r.id = h.recall_id
             where h.lot_id = l.id and h.closed_at is null
      ) h on true;
end
$$;

-- Stock of the reached lots, by location.
create function trace_stock(ids uuid[])
returns table (lot_id uuid, location text, quantity numeric)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
#variable_conflict use_column
begin
    return query
    select o.lot_id, c.code, o.quantity
      from on_hand o join locations c on c.id = o.location_id
     where o.lot_id = any(ids) and o.quantity <> 0;
end
$$;

-- Shipment lines of the lots, leaving out lines whose movement was reversed.
create function trace_shipments(ids uuid[])
returns table (lot_id uuid, number text, customer_id uuid, quantity numeric, shipped_at timestamptz)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
#variable_conflict use_column
begin
    return query
    select sl.lot_id, h.number, h.customer_id, sl.quantity, h.shipped_at
      from shipment_lines sl
      join shipments h on h.id = sl.shipment_id
     where sl.lot_id = any(ids)
       and not exists (select 1 from stock_movements x where x.reverses_id = sl.movement_id);
end
$$;

-- The ledger a forward trace's shares are computed from (trace.rs, `quantities`): every movement
-- of the reached lots, and every consumption of the runs that made them (an input from outside the
-- trace still dilutes the mix). Reversed movements and reversals are left out, as if they never
-- happened. Rows come unordered and in each lot's own unit; the caller orders them and converts
-- them with trace_kg_per_unit, cheaper than a join per movement.
create function trace_flows(ids uuid[])
returns table (id bigint, lot_id uuid, kind text, quantity numeric, run_id uuid, posting_id uuid, occurred_at timestamptz, outside boolean)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
#variable_conflict use_column
begin
    return query
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
       and not exists (select 1 from stock_movements x where x.reverses_id = mv.id);
end
$$;

-- Kilograms per unit of each lot's material: the unit's own factor for mass units, the material's
-- mass per unit otherwise; null where no mass is known.
create function trace_kg_per_unit(ids uuid[])
returns table (lot_id uuid, kg numeric)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
#variable_conflict use_column
begin
    return query
    select l.id, case when u.dimension = 'mass' then u.to_base else m.mass_per_unit_kg end
      from lots l join materials m on m.id = l.material_id join units u on u.code = m.uom
     where l.id = any(ids);
end
$$;

-- The links of a lot's lot-level closure, downstream (where used) and upstream (where from), in
-- one round trip each: a recursive query finds the closure's lots as a plain recursive query
-- would, then their links are read from the same index.
create function trace_links_down(start uuid)
returns table (from_lot_id uuid, to_lot_id uuid, occurred_at timestamptz, run_id uuid, kind text)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
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

create function trace_links_up(start uuid)
returns table (from_lot_id uuid, to_lot_id uuid, occurred_at timestamptz, run_id uuid, kind text)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
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
