-- Part 11 (21 CFR 11.200(a)(1)): the first signature of a session takes the user name and the
-- password, and so does one after a quarter of an hour without signing; the session remembers
-- when it last signed.
alter table sessions add column signed_at timestamptz;
