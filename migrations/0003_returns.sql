-- Returns go both ways: from a customer (stock comes back, into quarantine) and to a supplier
-- (stock leaves). A return movement names its return document either way.
alter table stock_movements drop constraint stock_movements_sign;
alter table stock_movements add constraint stock_movements_sign check (
    (kind in ('receipt', 'produce') and quantity > 0) or
    (kind in ('consume', 'ship', 'scrap') and quantity < 0) or
    kind in ('transfer', 'adjust', 'reversal', 'count', 'return'));
alter table stock_movements add constraint stock_movements_return_shape check (kind <> 'return' or return_id is not null);

-- A customer return names the shipment line it comes back against.
alter table return_lines add column shipment_line_id uuid references shipment_lines;
create index return_lines_shipment_line_idx on return_lines (shipment_line_id) where shipment_line_id is not null;
