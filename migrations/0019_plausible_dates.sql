-- Dates a plant can mean: every date a person or a partner types lies in 2000–2100
-- (`domain::dates` says so first, with a message; these are the backstop). NOT VALID: a row
-- stored before is left as it is and still reads, and every new or changed row is checked.
alter table lots
    add constraint lots_made_on_plausible check (made_on between '2000-01-01' and '2100-12-31') not valid,
    add constraint lots_expires_on_plausible check (expires_on between '2000-01-01' and '2100-12-31') not valid;
alter table stock_movements
    add constraint stock_movements_occurred_plausible
        check (occurred_at >= '2000-01-01' and occurred_at < '2101-01-01') not valid;
alter table genealogy_links
    add constraint genealogy_links_occurred_plausible
        check (occurred_at >= '2000-01-01' and occurred_at < '2101-01-01') not valid;
alter table receipts
    add constraint receipts_received_plausible
        check (received_at >= '2000-01-01' and received_at < '2101-01-01') not valid;
alter table shipments
    add constraint shipments_shipped_plausible
        check (shipped_at >= '2000-01-01' and shipped_at < '2101-01-01') not valid;
alter table returns
    add constraint returns_occurred_plausible
        check (occurred_at >= '2000-01-01' and occurred_at < '2101-01-01') not valid;
alter table production_runs
    add constraint production_runs_opened_plausible
        check (opened_at >= '2000-01-01' and opened_at < '2101-01-01') not valid;
alter table qa_records
    add constraint qa_records_performed_plausible
        check (performed_at >= '2000-01-01' and performed_at < '2101-01-01') not valid;
alter table recall_notices
    add constraint recall_notices_occurred_plausible
        check (occurred_at >= '2000-01-01' and occurred_at < '2101-01-01') not valid;
alter table recall_accounting
    add constraint recall_accounting_reported_plausible
        check (reported_at >= '2000-01-01' and reported_at < '2101-01-01') not valid;
