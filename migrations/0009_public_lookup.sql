-- The consumer's "check your product" page: which materials' lots may be looked up, how often
-- each lot was looked up, and the per-address counters that keep lot codes from being enumerated.

alter table materials add column public_lookup boolean not null default false;

-- Lookups per lot and day (a recall's reach shows on its page).
create table lookup_counts (
    lot_id  uuid not null references lots,
    day     date not null,
    lookups integer not null default 0 check (lookups >= 0),
    primary key (lot_id, day)
);

-- Lookups per client address in the current window (shared by every lotline server).
create table lookup_throttle (
    address      text primary key,
    window_start timestamptz not null default now(),
    lookups      integer not null default 0 check (lookups >= 0)
);
