-- An idempotency key belongs to the user who sent it and the request it came with: the same key
-- with another request, or from another user, is refused rather than answered with the first.
alter table idempotency_keys add column request_hash bytea;

-- API tokens read, or read and write; every token expires (those made before get 90 days).
alter table api_tokens add column scope text not null default 'write' check (scope in ('read', 'write'));
update api_tokens set expires_at = now() + interval '90 days' where expires_at is null and revoked_at is null;
alter table api_tokens add constraint api_tokens_expire check (expires_at is not null) not valid;
