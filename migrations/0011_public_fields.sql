-- What the public product check shows of a material's lots, field by field: the dates
-- (production, best before) and the origin (the plant, the countries of the ingredients).
alter table materials
    add column public_dates boolean not null default true,
    add column public_origin boolean not null default true;
