-- What a lot's date means to whoever holds it: a use-by date (safety; GS1 AI 17, EPCIS
-- itemExpirationDate) or a best-before date (quality; AI 15, bestBeforeDate). The label, the
-- consumer page and the EPCIS events all say the same word.
alter table materials add column date_kind text not null default 'use_by'
    constraint materials_date_kind_check check (date_kind in ('use_by', 'best_before'));
