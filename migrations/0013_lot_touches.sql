-- Which lots each writing transaction touched, for the lot pages servers keep in memory
-- (db::Changes): a watcher reads the rows of the transactions committed since it last looked and
-- drops those lots' pages; a row without a lot drops every page (a material renamed, a recall
-- closed). Rows of a transaction that rolls back go with it. Unlogged: writing it costs no WAL,
-- and nothing in it must survive a crash (a server whose watcher loses the database drops
-- everything it kept).
create unlogged table lot_touches (
    xid    xid8 not null default pg_current_xact_id(),
    lot_id uuid
);
create index lot_touches_xid_idx on lot_touches (xid);

create function touch_lots_new() returns trigger language plpgsql as $$
begin
    insert into lot_touches (lot_id) select distinct lot_id from new_rows;
    return null;
end
$$;

create function touch_lots_old() returns trigger language plpgsql as $$
begin
    insert into lot_touches (lot_id) select distinct lot_id from old_rows;
    return null;
end
$$;

create function touch_lots_by_id() returns trigger language plpgsql as $$
begin
    insert into lot_touches (lot_id) select distinct id from new_rows;
    return null;
end
$$;

create function touch_lots_linked() returns trigger language plpgsql as $$
begin
    insert into lot_touches (lot_id) select from_lot_id from new_rows union select to_lot_id from new_rows;
    return null;
end
$$;

create function touch_lots_audited() returns trigger language plpgsql as $$
begin
    insert into lot_touches (lot_id)
    select distinct entity_id::uuid from new_rows
     where entity_type = 'lot' and entity_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    return null;
end
$$;

create function touch_all_lots() returns trigger language plpgsql as $$
begin
    insert into lot_touches (lot_id) values (null);
    return null;
end
$$;

-- A new lot has no page kept yet; an existing lot changes through these. Every trigger here is
-- named *_lot_pages* (a bulk import sets them aside by that name).
create trigger lots_lot_pages after update on lots
    referencing new table as new_rows for each statement execute function touch_lots_by_id();
create trigger stock_movements_lot_pages after insert on stock_movements
    referencing new table as new_rows for each statement execute function touch_lots_new();
create trigger genealogy_links_lot_pages_insert after insert on genealogy_links
    referencing new table as new_rows for each statement execute function touch_lots_linked();
create trigger genealogy_links_lot_pages_update after update on genealogy_links
    referencing new table as new_rows for each statement execute function touch_lots_linked();
create trigger audit_log_lot_pages after insert on audit_log
    referencing new table as new_rows for each statement execute function touch_lots_audited();

do $$
declare
    t text;
begin
    foreach t in array array['on_hand', 'shipment_lines', 'lot_dispositions', 'lot_holds', 'qa_records'] loop
        execute format('create trigger %I after insert on %I referencing new table as new_rows
                          for each statement execute function touch_lots_new()', t || '_lot_pages_insert', t);
        execute format('create trigger %I after update on %I referencing new table as new_rows
                          for each statement execute function touch_lots_new()', t || '_lot_pages_update', t);
        execute format('create trigger %I after delete on %I referencing old table as old_rows
                          for each statement execute function touch_lots_old()', t || '_lot_pages_delete', t);
    end loop;
    -- What many lot pages show: names, numbers, a recall's status. New rows here reach a lot's
    -- page only through a lot-keyed row above.
    foreach t in array array[
        'materials', 'sites', 'parties', 'locations', 'users', 'signatures', 'recalls', 'receipts',
        'production_runs', 'shipments', 'returns'
    ] loop
        execute format('create trigger %I after update or delete or truncate on %I
                          for each statement execute function touch_all_lots()', t || '_lot_pages', t);
    end loop;
    foreach t in array array['lots', 'stock_movements', 'genealogy_links', 'audit_log', 'on_hand', 'shipment_lines',
                             'lot_dispositions', 'lot_holds', 'qa_records'] loop
        execute format('create trigger %I after truncate on %I
                          for each statement execute function touch_all_lots()', t || '_lot_pages_truncate', t);
    end loop;
end
$$;
