-- The audit chain is kept with a key outside the database (HMAC-SHA256): an entry says whether
-- it was; entries written before the key stay checkable as plain SHA-256, and an unkeyed entry
-- after a keyed one is a forgery.
alter table audit_log add column keyed boolean not null default false;
