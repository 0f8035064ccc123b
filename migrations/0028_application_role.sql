-- lotline's server works as an application role that owns nothing (see db::grant_app_role): it
-- reads and writes rows but cannot alter a table, disable a trigger or rewrite the audit trail.
-- The one change to the schema it still makes is confirming the foreign keys a bulk import left
-- NOT VALID; this function, run with its owner's rights, does that and nothing else.
create function confirm_foreign_key(tbl regclass, con name) returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
set lock_timeout = '1s'
as $$
begin
    if not exists (
        select 1 from pg_constraint
         where conrelid = tbl and conname = con and contype = 'f' and not convalidated
    ) then
        raise exception 'no unconfirmed foreign key % on %', con, tbl using errcode = '42704';
    end if;
    execute format('alter table %s validate constraint %I', tbl, con);
end
$$;
