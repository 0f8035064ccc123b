-- A lot as people type it: any case, with or without its dashes, dots or spaces
-- (`26337-0003`, `263370003`, `26337 0003`). Codes and traceability lot codes are found by this key.
create function lot_key(code text) returns text language sql immutable parallel safe strict as $$
    select regexp_replace(upper(code), '[^A-Z0-9]', '', 'g')
$$;
create index lots_code_key on lots (lot_key(code));
create index lots_tlc_key on lots (lot_key(tlc));
