-- Split and repack: part of a lot becomes a new lot (of the same material, or repacked into
-- another). Its two movements are of kind 'split': out of the source, into the new lot.
alter table stock_movements drop constraint stock_movements_kind_check;
alter table stock_movements add constraint stock_movements_kind_check check (kind in
    ('receipt', 'consume', 'produce', 'ship', 'transfer', 'adjust', 'scrap', 'return', 'reversal', 'count', 'split'));
alter table stock_movements drop constraint stock_movements_sign;
alter table stock_movements add constraint stock_movements_sign check (
    (kind in ('receipt', 'produce') and quantity > 0) or
    (kind in ('consume', 'ship', 'scrap') and quantity < 0) or
    kind in ('transfer', 'adjust', 'reversal', 'count', 'return', 'split'));
