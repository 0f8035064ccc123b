-- A lot is found by our code or by its traceability lot code (a received lot's supplier lot), in
-- either case: from a scan, the search box, a shipment or run line (domain::lotcode::named_sql).
create index lots_code_upper_idx on lots (upper(code));
create index lots_tlc_upper_idx on lots (upper(tlc));
