-- The trace reads of migration 0007 take an array of lot ids that may hold one or ten thousand.
-- PostgreSQL plans a statement's first five runs on each connection for the values at hand (a
-- "custom" plan) before it may settle on one plan for all; planning for a large array costs up
-- to half a millisecond a call, and the plans it makes for thousands of ids were measured two to
-- three times slower than the general one (the shipments of the heaviest lot of a million-lot
-- plant: 60 ms against 22 ms; a typical trace's ledger read: 1.0 ms against 0.55 ms). The
-- general plan is the one these functions are written for: index lookups per id.
alter function trace_lots(uuid[]) set plan_cache_mode = force_generic_plan;
alter function trace_stock(uuid[]) set plan_cache_mode = force_generic_plan;
alter function trace_shipments(uuid[]) set plan_cache_mode = force_generic_plan;
alter function trace_flows(uuid[]) set plan_cache_mode = force_generic_plan;
alter function trace_kg_per_unit(uuid[]) set plan_cache_mode = force_generic_plan;
alter function trace_links_down(uuid) set plan_cache_mode = force_generic_plan;
alter function trace_links_up(uuid) set plan_cache_mode = force_generic_plan;
