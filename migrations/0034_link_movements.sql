-- The links a movement made, found from the movement: a reversal marks them (ledger::reverse_links)
-- and EPCIS publication tells a repack's split from a plain split by them.
create index genealogy_links_input_movement on genealogy_links (input_movement_id);
create index genealogy_links_output_movement on genealogy_links (output_movement_id);
