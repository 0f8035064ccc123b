-- Failed electronic signatures are throttled, audited and reported (21 CFR 11.300(d)): after
-- three within a quarter of an hour the user's sessions end and an alert waits on every
-- administrator's pages until one acknowledges it.
create table signature_failures (
    user_id      uuid primary key references users on delete cascade,
    failures     integer not null default 0 check (failures >= 0),
    window_start timestamptz not null default now()
);

create table security_alerts (
    id              bigint generated always as identity primary key,
    raised_at       timestamptz not null default now(),
    kind            text not null check (kind in ('signature_attempts')),
    user_id         uuid references users,
    detail          text not null check (length(btrim(detail)) > 0),
    acknowledged_at timestamptz,
    acknowledged_by uuid references users,
    constraint security_alerts_acknowledged_shape check ((acknowledged_at is null) = (acknowledged_by is null))
);
create index security_alerts_open_idx on security_alerts (raised_at) where acknowledged_at is null;
