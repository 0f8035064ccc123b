-- Leaner trace reads: a trace of thousands of lots names only a few materials and parties, so
-- the lots and shipment lines come with their ids and the caller reads those once each, rather
-- than one more index lookup per lot and per line.

drop function trace_lots(uuid[]);
create function trace_lots(ids uuid[])
returns table (id uuid, code text, material_id uuid, supplier_id uuid, supplier_lot text, disposition text,
               expires_on date, open_holds bigint, recalled boolean)
language sql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
    select l.id, l.code, l.material_id, l.supplier_id, l.supplier_lot, l.disposition, l.expires_on,
           coalesce(h.open_holds, 0), coalesce(h.recalled, false)
      from unnest(ids) as i(id)
      join lots l on l.id = i.id
      left join lateral (
            select count(*) as open_holds, bool_or(r.id is not null and r.status = 'open' and not r.mock) as recalled
              from lot_holds h left join recalls r on r.id = h.recall_id
             where h.lot_id = l.id and h.closed_at is null
      ) h on true
$$;

drop function trace_shipments(uuid[]);
create function trace_shipments(ids uuid[])
returns table (lot_id uuid, number text, customer_id uuid, quantity numeric, shipped_at timestamptz)
language sql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off
as $$
    select sl.lot_id, h.number, h.customer_id, sl.quantity, h.shipped_at
      from shipment_lines sl
      join shipments h on h.id = sl.shipment_id
     where sl.lot_id = any(ids)
       and not exists (select 1 from stock_movements x where x.reverses_id = sl.movement_id)
$$;
