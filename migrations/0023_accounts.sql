-- Accounts a stranger cannot turn against their owner, and passwords only their owner knows.

-- A password set by someone else (an administrator's reset, or an account an administrator made
-- on the web) is changed by its owner at the next sign-in, before anything else.
alter table users add column must_change_password boolean not null default false;

-- Sign-in attempts are counted before the password is checked (so concurrent attempts count),
-- per account and address, per account and per address; `locked_until` is the earliest time
-- the next attempt is checked at all (a delay that grows with the failures, never a lock the
-- owner cannot pass from another address).
comment on column login_throttle.locked_until is 'the next attempt for this key is not checked before this time';
create index login_throttle_window_idx on login_throttle (window_start);
create index lookup_throttle_window_idx on lookup_throttle (window_start);
