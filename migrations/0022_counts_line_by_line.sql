-- Counts post line by line: a tolerance per material (a variance beyond it needs QA's reason for
-- that line), each line's own reason and poster, and a count that can be posted in part.
alter table materials
    add column count_tolerance_percent numeric(5, 2) not null default 0
        check (count_tolerance_percent >= 0 and count_tolerance_percent < 100);
alter table stock_count_lines
    add column post_reason text check (post_reason is null or length(btrim(post_reason)) > 0),
    add column posted_by uuid references users,
    add column posted_at timestamptz,
    add constraint stock_count_lines_posted_shape check (posted_at is null or movement_id is not null);
