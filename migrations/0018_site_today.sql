-- "Today" is the site's local date, everywhere: expiry, usable stock, FEFO suggestions, lot
-- statuses in lists, lot-number periods and the public lookup's daily counts all ask this.
create function site_today(site uuid) returns date
language sql stable
as $$ select (now() at time zone s.time_zone)::date from sites s where s.id = site $$;

-- A traced lot's site, so that the trace can judge its expiry by that site's date.
drop function trace_lot_rows(uuid[]);
create function trace_lot_rows(ids uuid[])
returns table (id uuid, code text, material_id uuid, supplier_id uuid, supplier_lot text, disposition text,
               expires_on date, site_id uuid)
language plpgsql stable
set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
    return query
    select l.id, l.code, l.material_id, l.supplier_id, l.supplier_lot, l.disposition, l.expires_on, l.site_id
      from unnest(ids) as i(id)
      join lots l on l.id = i.id;
end
$$;
