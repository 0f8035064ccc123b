-- The reads a trace makes once it knows the lots it reached: facts, stock and shipments of a set
-- of lot ids that may hold tens of thousands. Each lot is a handful of index lookups (a few
-- microseconds, cached). But for a large id array the planner's estimates favour scanning whole
-- tables (a million stock rows, every shipment) and hashing them, ten to fifty times slower on
-- the plant's own data. These functions pin the plan to index lookups, for these reads only;
-- the SET clauses apply while each body is planned and run, and nowhere else.

create function trace_lots(ids uuid[])
returns table (id uuid, material text, material_name text, code text, disposition text, expires_on date,
               open_holds bigint, recalled boolean, uom text, supplier text, supplier_lot text)
language sql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
    select l.id, m.code, m.name, l.code, l.disposition, l.expires_on,
           coalesce(h.open_holds, 0), coalesce(h.recalled, false), m.uom, p.name, l.supplier_lot
      from unnest(ids) as i(id)
      join lots l on l.id = i.id
      join materials m on m.id = l.material_id
      left join parties p on p.id = l.supplier_id
      left join lateral (
            select count(*) as open_holds, bool_or(r.id is not null and r.status = 'open' and not r.mock) as recalled
              from lot_holds h left join recalls r on r.id = h.recall_id
             where h.lot_id = l.id and h.closed_at is null
      ) h on true
$$;

create function trace_stock(ids uuid[])
returns table (lot_id uuid, location text, quantity numeric)
language sql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
    select o.lot_id, c.code, o.quantity
      from on_hand o join locations c on c.id = o.location_id
     where o.lot_id = any(ids) and o.quantity <> 0
$$;

-- Shipment lines of the lots, leaving out lines whose movement was reversed.
create function trace_shipments(ids uuid[])
returns table (lot_id uuid, number text, customer_code text, customer text, quantity numeric, shipped_at timestamptz)
language sql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
    select sl.lot_id, h.number, p.code, p.name, sl.quantity, h.shipped_at
      from shipment_lines sl
      join shipments h on h.id = sl.shipment_id
      join parties p on p.id = h.customer_id
     where sl.lot_id = any(ids)
       and not exists (select 1 from stock_movements x where x.reverses_id = sl.movement_id)
$$;
