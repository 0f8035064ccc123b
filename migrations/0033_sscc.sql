-- Pallets leave with a serial shipping container code (SSCC, GS1 AI 00), made under the
-- shipping site's GS1 company prefix; the shipping event names them, the pallet label carries them.
alter table sites add column company_prefix text
    constraint sites_company_prefix_check check (company_prefix ~ '^[0-9]{6,12}$');

create sequence sscc_serial_seq;

create table shipment_pallets (
    sscc text primary key check (sscc ~ '^[0-9]{18}$' and gs1_check_digit_ok(sscc)),
    company_prefix text not null check (company_prefix ~ '^[0-9]{6,12}$' and substr(sscc, 2, length(company_prefix)) = company_prefix),
    shipment_id uuid not null references shipments (id),
    pallet_no integer not null check (pallet_no between 1 and 99),
    unique (shipment_id, pallet_no)
);
create trigger shipment_pallets_append_only before update or delete on shipment_pallets
    for each row execute function refuse_change();
