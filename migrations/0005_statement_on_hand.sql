-- On-hand moves once per statement instead of once per row: a statement that inserts many
-- movements (an import, a receipt of many lines) applies their net change per lot and location
-- in one update and one insert. The guarantee is unchanged: the update locks the on-hand row, so
-- of two concurrent statements taking the last stock, the second sees the first's result and
-- fails the on_hand_not_negative CHECK.
create function apply_movements() returns trigger language plpgsql as $$
begin
    with delta as (
        select lot_id, location_id, sum(quantity) as quantity from new_rows group by lot_id, location_id
    ), updated as (
        update on_hand o set quantity = o.quantity + d.quantity, updated_at = now()
          from delta d where o.lot_id = d.lot_id and o.location_id = d.location_id
        returning o.lot_id, o.location_id
    )
    insert into on_hand (lot_id, location_id, quantity, updated_at)
    select d.lot_id, d.location_id, d.quantity, now() from delta d
     where not exists (select 1 from updated u where u.lot_id = d.lot_id and u.location_id = d.location_id)
    on conflict (lot_id, location_id) do update set quantity = on_hand.quantity + excluded.quantity, updated_at = now();
    return null;
end $$;

drop trigger stock_movements_apply on stock_movements;
create trigger stock_movements_apply after insert on stock_movements
    referencing new table as new_rows for each statement execute function apply_movements();
drop function apply_movement();
