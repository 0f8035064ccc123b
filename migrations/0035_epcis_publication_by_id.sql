-- Publication follows the ledger by movement id: how far it has read, and the ids below that it
-- has not seen (a transaction still open when it passed, or one rolled back), looked at again
-- until they are old.
alter table epcis_publication add column last_id bigint not null default 0;
alter table epcis_publication drop column watermark;
create table epcis_publication_gaps (
    id bigint primary key,
    seen_at timestamptz not null default now()
);

-- The EPC classes an event names (its quantity lists), for MATCH_anyEPCClass by index.
alter table epcis_events add column epc_classes text[] not null default '{}';
alter table epcis_events disable trigger epcis_events_append_only;
update epcis_events set epc_classes = array(
    select distinct q->>'epcClass'
      from jsonb_array_elements(coalesce(event->'quantityList', '[]') || coalesce(event->'inputQuantityList', '[]')
                                || coalesce(event->'outputQuantityList', '[]')) q);
alter table epcis_events enable trigger epcis_events_append_only;
create index epcis_events_classes on epcis_events using gin (epc_classes);
