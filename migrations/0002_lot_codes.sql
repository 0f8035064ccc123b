-- Lot codes drawn from rules: every lot remembers the number it was given, so that each drawn
-- number is provably either a lot or a logged gap, and no number is ever used twice.

alter table lots
    add column code_rule_id uuid references lot_rules,
    add column code_scope   text,
    add column code_period  text,
    add column code_seq     bigint,
    add constraint lots_code_origin_shape check (
        (code_rule_id is null) = (code_seq is null) and (code_rule_id is null) = (code_scope is null)
        and (code_rule_id is null) = (code_period is null));
create unique index lots_code_seq_once on lots (code_rule_id, code_scope, code_period, code_seq) where code_rule_id is not null;

create index lot_code_gaps_rule_idx on lot_code_gaps (rule_id, scope_key, period_key, value);

-- Who approved a rule (its electronic signature).
alter table lot_rules add column signature_id uuid references signatures;

-- Every plant starts with a rule: year, day of year and a daily sequence, e.g. 26331-0001.
insert into lot_rules (name, pattern, scope, reset_period, start_number)
values ('Default: year, day of year, daily sequence', '{YY}{JJJ}-{SEQ:4}', 'default', 'daily', 1);
