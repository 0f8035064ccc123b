-- The trace walk reads only these columns of a link: the indexes carry them all, so a frontier is
-- read from the index alone (once the table is vacuumed).
drop index genealogy_links_from_idx;
drop index genealogy_links_to_idx;
create index genealogy_links_from_idx on genealogy_links (from_lot_id, occurred_at) include (to_lot_id, run_id, kind) where reversed_at is null;
create index genealogy_links_to_idx on genealogy_links (to_lot_id, occurred_at) include (from_lot_id, run_id, kind) where reversed_at is null;
